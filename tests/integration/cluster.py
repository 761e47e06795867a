"""Real framepipe clusters on loopback for integration tests, and the checks made on results.

A Cluster is a context manager: `framepipe up` in its own process group, bound to 127.0.0.1 on
free ports, with its own data directory; it is always stopped (SIGTERM, then SIGKILL of the whole
group) when the block ends, even when a test fails. Only the Python standard library, ffmpeg and
ffprobe are used.
"""
import atexit
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

FRAMEPIPE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else 'build/bin/framepipe'
_live_groups = set()


def _kill_all():
    for pgid in list(_live_groups):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def workdir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
            return True
        except OSError:
            return False


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def free_port_range(count):
    for _ in range(200):
        base = random.randint(20000, 50000)
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError('no free port range')


class Cluster:
    def __init__(self, workers=2, extra=(), data_dir=None, wrapper=(), api_token='', env=None,
                 host='127.0.0.1', auth='none'):
        """`data_dir`: a data directory that outlives the cluster (kept, for a restart on the same
        job list); by default a fresh one under the cluster's own directory, removed with it.
        `wrapper`: a command that runs `framepipe up ...` (its arguments) in its place, by exec.
        `api_token`: the API requires it; given to `up` in a file (--api-token-file, mode 0600).
        `env`: variables added to `up`'s environment (FRAMEPIPE_API_TOKEN, for one).
        `host`: the address it binds and is reached at (a head's address in a test network).
        `auth`: --auth, `none` (single-user) unless a test is about accounts; an accounts cluster
        needs `api_token` (the admin's) for the harness's own requests."""
        self.workers = workers
        self.extra = ['--auth', auth] + list(extra)
        self.wrapper = list(wrapper)
        self.env = dict(os.environ, **(env or {}))
        self.dir = tempfile.mkdtemp(prefix='framepipe-test-')
        if api_token:
            token_file = os.path.join(self.dir, 'api-token')
            with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), 'w') as f:
                f.write(api_token + '\n')
            self.extra += ['--api-token-file', token_file]
        self.data_dir = os.path.abspath(data_dir or os.path.join(self.dir, 'data'))
        self.http_port = free_port()
        self.base = free_port_range(5)
        self.host = host
        self.api = f'http://{host}:{self.http_port}'
        self.registry = f'tcp://{host}:{self.base}'
        self.proc = None
        self.extra_procs = []
        token = api_token or (env or {}).get('FRAMEPIPE_API_TOKEN', '')
        self.auth = {'Authorization': f'Bearer {token}'} if token else {}

    def __enter__(self):
        self.log = open(os.path.join(self.dir, 'up.log'), 'w')
        self.proc = subprocess.Popen(
            self.wrapper + [FRAMEPIPE, 'up', '--workers', str(self.workers), '--http-port', str(self.http_port),
             '--zmq-port-base', str(self.base), '--data-dir', self.data_dir,
             '--bind-host', self.host] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env)
        _live_groups.add(self.proc.pid)
        try:
            # A loaded machine (a parallel ctest beside a build) can take tens of seconds.
            wait_for(lambda: self.health_code() == 200, 60, 'the cluster to answer /health')
            wait_for(lambda: len(self.workers_list()) >= self.workers, 60,
                     f'{self.workers} workers to register')
        except Exception as e:
            self.__exit__(type(e), e, None)  # prints the cluster's log
            raise
        return self

    def __exit__(self, *exc):
        for p in self.extra_procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.proc:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _live_groups.discard(self.proc.pid)
            self.proc.wait()
        failed = exc and exc[0] is not None and not (exc[0] is SystemExit and exc[1].code == 0)
        if failed:
            print('---- cluster log (tail) ----')
            with open(os.path.join(self.dir, 'up.log')) as f:
                print(''.join(f.readlines()[-60:]))
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def role_pids(self, role=''):
        """Pids of this cluster's `framepipe ROLE` processes (children of its `up`), sorted."""
        pattern = f'framepipe {role} ' if role else 'framepipe '
        out = subprocess.run(['pgrep', '-g', str(self.proc.pid), '-f', pattern],
                             capture_output=True, text=True).stdout
        return sorted(int(p) for p in out.split())

    def kill_role(self, role):
        pids = self.role_pids(role)
        assert pids, f'no {role} process found'
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    def start_worker(self, *args, env=None):
        log = open(os.path.join(self.dir, f'worker-{len(self.extra_procs)}.log'), 'w')
        p = subprocess.Popen([FRAMEPIPE, 'worker', self.registry, *args], stdout=log,
                             stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))
        self.extra_procs.append(p)
        return p

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.api + path, data=body, method=method,
                                     headers=dict(self.auth, **(headers or {})))
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def json(self, path):
        code, body, _ = self.request('GET', path)
        return code, json.loads(body) if body else None

    def health_code(self):
        try:
            return self.request('GET', '/health')[0]
        except (urllib.error.URLError, ConnectionError, OSError):
            return None

    def workers_list(self):
        try:
            code, body = self.json('/api/workers')
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            return []
        if code != 200:
            return []
        return body if isinstance(body, list) else body.get('workers', [])

    def submit(self, path, filters=None, fields=None, filename=None):
        parts = dict(fields or {})
        if filters is not None:
            parts['filters'] = filters
        files = {}
        if path is not None:
            with open(path, 'rb') as f:
                files['file'] = (filename or os.path.basename(path), f.read())
        body, content_type = multipart(parts, files)
        code, data, _ = self.request('POST', '/api/jobs', body, {'Content-Type': content_type})
        return code, json.loads(data) if data else None

    def wait_job(self, job_id, timeout=180):
        state = {}

        def finished():
            nonlocal state
            _, state = self.json(f'/api/jobs/{job_id}')
            return state.get('state') in ('done', 'failed', 'canceled')

        wait_for(finished, timeout, f'job {job_id} to finish')
        return state

    def result(self, job_id, dest):
        code, data, _ = self.request('GET', f'/api/jobs/{job_id}/result')
        assert code == 200, f'result: HTTP {code}'
        with open(dest, 'wb') as f:
            f.write(data)
        return dest

    def process(self, path, filters, out_dir, fields=None):
        """Uploads, waits, downloads; returns the result path."""
        code, job = self.submit(path, filters, fields)
        assert code == 201, f'upload: HTTP {code} {job}'
        final = self.wait_job(job['id'])
        assert final['state'] == 'done', f'job ended {final}'
        return self.result(job['id'], os.path.join(out_dir, job['id'] + '.mp4'))


def all_at_once(count, call):
    """call(i) for i in range(count), each on its own thread started together; their results."""
    results = [None] * count

    def run(i):
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f'{value}\r\n').encode()
    for name, (filename, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        out += data + b'\r\n'
    out += f'--{boundary}--\r\n'.encode()
    return bytes(out), f'multipart/form-data; boundary={boundary}'


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')


# ---- media ----
def generate(path, video='testsrc2=size=320x240:rate=25', seconds=3, audio='sine=frequency=440',
             codec=('-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'),
             audio_codec=('-c:a', 'aac')):
    cmd = ['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', video]
    if audio:
        cmd += ['-f', 'lavfi', '-i', audio]
    cmd += ['-t', str(seconds), *codec]
    if audio:
        cmd += [*audio_codec, '-shortest']
    subprocess.run(cmd + [path], check=True)
    return path


def probe_frames(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
                          'frame=best_effort_timestamp_time', '-of', 'json', path],
                         capture_output=True, text=True, check=True).stdout
    return [float(f['best_effort_timestamp_time']) for f in json.loads(out).get('frames', [])
            if 'best_effort_timestamp_time' in f]


def probe(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-show_entries',
                          'format=duration:stream=codec_type,codec_name,width,height,'
                          'sample_aspect_ratio,display_aspect_ratio', '-of',
                          'json', path], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def has_audio(path):
    return any(s['codec_type'] == 'audio' for s in probe(path)['streams'])


def duration(path):
    return float(probe(path)['format']['duration'])


def frame_hashes(path):
    out = subprocess.run(['ffmpeg', '-v', 'error', '-i', path, '-map', '0:v:0', '-fps_mode',
                          'passthrough', '-f', 'framemd5', '-'], capture_output=True, text=True,
                         check=True).stdout
    return [line.split(',')[-1].strip() for line in out.splitlines() if not line.startswith('#')]


def check_same_timing(source, result):
    """Frame count, per-frame timestamps and duration of `result` match `source`."""
    ts_in, ts_out = probe_frames(source), probe_frames(result)
    assert len(ts_out) == len(ts_in), f'{len(ts_out)} frames out of {len(ts_in)}'
    gaps = sorted(b - a for a, b in zip(ts_in, ts_in[1:]))
    tolerance = max(0.005, 0.25 * gaps[len(gaps) // 2]) if gaps else 0.005
    worst = max(abs((a - ts_in[0]) - (b - ts_out[0])) for a, b in zip(ts_in, ts_out))
    assert worst <= tolerance, f'timestamps differ by up to {worst * 1000:.1f} ms'
    d_in, d_out = duration(source), duration(result)
    assert abs(d_in - d_out) <= max(0.25, 0.02 * d_in), f'duration {d_out} s, input {d_in} s'


# Encoder settings under which output frames are the encoder's input exactly (lossless): x264
# with several threads does not always give the same bytes twice at CRF 20 for variable-rate
# input, so tests that compare frames with a reference compare what the pipeline delivered.
LOSSLESS = {'crf': '0', 'preset': 'ultrafast'}


def run_locally(source, filters, dest, fields=None):
    extra = [f'--{key}={value}' for key, value in (fields or {}).items()]
    subprocess.run([FRAMEPIPE, 'process', source, dest, '--filters', filters, *extra], check=True,
                   capture_output=True)
    return dest


def main(tests):
    """Runs test functions, prints 'N passed, M failed', exits non-zero on failure."""
    passed = failed = 0
    for test in tests:
        started = time.time()
        try:
            test()
            passed += 1
            print(f'ok    {test.__name__} ({time.time() - started:.1f} s)', flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f'FAIL  {test.__name__}: {type(e).__name__}: {e}', flush=True)
    print(f'{passed} passed, {failed} failed')
    sys.exit(1 if failed else 0)


# ---- data directory and raw uploads ----
def job_directories(cluster):
    """Names of the per-job directories under the cluster's data directory (uploads and results)."""
    jobs = os.path.join(cluster.data_dir, 'jobs')
    return set(os.listdir(jobs)) if os.path.isdir(jobs) else set()


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def start_partial_upload(cluster, declared_bytes, sent_bytes, chunked=False):
    """Opens a POST /api/jobs that declares a `declared_bytes` file (Content-Length, or chunked
    with no length) and sends only its first `sent_bytes`; returns the open socket, for the caller
    to close (a client gone mid-upload) or keep open."""
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.mp4"\r\n'
            'Content-Type: application/octet-stream\r\n\r\n').encode()
    tail = f'\r\n--{boundary}--\r\n'.encode()
    headers = [f'POST /api/jobs HTTP/1.1', f'Host: 127.0.0.1:{cluster.http_port}',
               f'Content-Type: multipart/form-data; boundary={boundary}']
    headers += [f'{k}: {v}' for k, v in cluster.auth.items()]
    headers.append('Transfer-Encoding: chunked' if chunked else
                   f'Content-Length: {len(head) + declared_bytes + len(tail)}')
    sock = socket.create_connection(('127.0.0.1', cluster.http_port), timeout=30)
    sock.sendall(('\r\n'.join(headers) + '\r\n\r\n').encode())
    body = head + os.urandom(sent_bytes)
    if chunked:
        body = f'{len(head) + declared_bytes:x}\r\n'.encode() + body  # one chunk, cut short
    sock.sendall(body)
    return sock


def wait_partial_upload(cluster, directories_before):
    """Waits for a new job directory holding an input file (an upload being written); its name."""
    found = []

    def written():
        for name in job_directories(cluster) - directories_before:
            if any(f.startswith('input') for f in os.listdir(os.path.join(cluster.data_dir, 'jobs',
                                                                           name))):
                found.append(name)
                return True
        return False

    wait_for(written, 15, 'an upload to reach the data directory')
    return found[0]


def peak_memory_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))


def reset_peak_memory(pid):
    with open(f'/proc/{pid}/clear_refs', 'w') as f:
        f.write('5')  # VmHWM back to the current resident size
