"""The head holds under the attackers' own tools: slowhttptest's slowloris, slow-body and slow-read
attacks (several hundred connections each, from one address), and a flood of live event streams.

While they run, /health, /metrics and the job list are asked several times a second, from the
attacking address (127.0.0.1) and from another one (127.0.0.2), and each answer must come within
a second; an upload from the other address is accepted and done. The server reads request heads
without a thread per connection (http-frontend/src/connection_gate.hpp), holds at most a quarter
of its threads for one address's uploads, and as many for its downloads of results, hands small
answers to the kernel whole (a slow reader of the page's script holds no thread), and gives each
event stream a small thread of its own, with at most an eighth of --max-event-streams per address
(503 beyond).

Before the gate, the same slowloris made /health fail 45 of 90 probes, the slow bodies 71 of 91,
and 8 event streams took every stream place. Before results had their own lane, 300 slow readers
of one result left 2 probes of 6 answered in 20 s.
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

from cluster import LOSSLESS, Cluster, generate, main, wait_for, workdir

WORK = workdir('framepipe-attacks-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=320x240:rate=25', seconds=2)
# Its lossless result (about 2 MB) is far more than the kernel takes from a server at once.
LARGE = generate(os.path.join(WORK, 'large.mp4'), 'testsrc2=size=320x240:rate=30', seconds=10)
ATTACK_SECONDS = 20
PROBE_LIMIT = 1.0  # seconds for any probe's answer
OTHER = '127.0.0.2'  # another address on loopback
STREAMS_TOTAL = 512  # --max-event-streams: 64 per address
STREAM_ADDRESSES = ['127.0.0.1', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6',
                    '127.0.0.7', '127.0.0.8', '127.0.0.9']


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + ' ') or (line.startswith(name + '{') and '{' not in name):
            return float(line.rsplit(' ', 1)[1])
    raise AssertionError(f'{name} not in /metrics')


def ask(port, path, source):
    """GET `path` from `source`: (status, seconds, body)."""
    started = time.time()
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=5,
                                            source_address=(source, 0))
    try:
        connection.request('GET', path)
        response = connection.getresponse()
        body = response.read()
        return response.status, time.time() - started, body
    finally:
        connection.close()


class Prober:
    """Asks /health, /metrics and /api/jobs in turn, from both addresses, until stopped."""

    def __init__(self, port):
        self.port = port
        self.slowest = 0.0
        self.answers = 0
        self.failures = []
        self.most_waiting = 0
        self.most_uploads_waiting = 0
        self.most_downloads_waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        paths = ['/health', '/metrics', '/api/jobs']
        turn = 0
        while not self._stop.is_set():
            path = paths[turn % len(paths)]
            source = OTHER if turn % 2 else '127.0.0.1'
            turn += 1
            try:
                status, seconds, body = ask(self.port, path, source)
                self.answers += 1
                self.slowest = max(self.slowest, seconds)
                if status not in (200, 503) or seconds > PROBE_LIMIT:
                    self.failures.append(f'{path} from {source}: {status} in {seconds:.2f} s')
                if path == '/metrics' and status == 200:
                    waiting = metric(body.decode(), 'framepipe_http_connections_waiting')
                    self.most_waiting = max(self.most_waiting, int(waiting))
                    parked = metric(body.decode(), 'framepipe_http_uploads{state="waiting"}')
                    self.most_uploads_waiting = max(self.most_uploads_waiting, int(parked))
                    parked = metric(body.decode(), 'framepipe_http_downloads{state="waiting"}')
                    self.most_downloads_waiting = max(self.most_downloads_waiting, int(parked))
            except OSError as e:
                self.failures.append(f'{path} from {source}: {e}')
            self._stop.wait(0.2)


def slowhttptest(mode, port, connections, extra=(), path='/api/jobs'):
    return subprocess.Popen(
        ['slowhttptest', mode, '-c', str(connections), '-r', '200', '-i', '5',
         '-l', str(ATTACK_SECONDS), '-p', '3', '-u', f'http://127.0.0.1:{port}{path}', *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def upload_from(port, source):
    boundary = 'framepipe-attack-test'
    with open(SOURCE, 'rb') as f:
        data = f.read()
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="filters"\r\n\r\ngrayscale\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.mp4"\r\n'
            f'Content-Type: video/mp4\r\n\r\n').encode() + data + f'\r\n--{boundary}--\r\n'.encode()
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30,
                                            source_address=(source, 0))
    try:
        connection.request('POST', '/api/jobs', body,
                           {'Content-Type': f'multipart/form-data; boundary={boundary}'})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


with Cluster(workers=1, extra=['--max-event-streams', str(STREAMS_TOTAL)]) as cluster:
    def test_slow_heads_bodies_and_reads_leave_the_api_answering():
        assert shutil.which('slowhttptest'), 'slowhttptest is not installed (scripts/common.sh)'
        port = cluster.http_port
        code, large = cluster.submit(LARGE, 'grayscale', LOSSLESS)
        assert code == 201, large
        assert cluster.wait_job(large['id'], 60)['state'] == 'done'
        result = f"/api/jobs/{large['id']}/result"
        _, _, expected = ask(port, result, OTHER)
        assert len(expected) > 1 << 20, len(expected)
        # Reading 32 bytes every 5 s through a window of 512 to 1024 bytes.
        slow_read = ['-w', '512', '-y', '1024', '-n', '5', '-z', '32', '-k', '1']
        with Prober(port) as prober:
            attacks = [
                slowhttptest('-H', port, 500),
                # A body that passes the checks at the headers: multipart, within the size limit.
                slowhttptest('-B', port, 300, ['-s', '100000', '-t', 'POST',
                                               '-f', 'multipart/form-data; boundary=x']),
                slowhttptest('-X', port, 200, slow_read, path=result),
                slowhttptest('-X', port, 200, slow_read, path='/app.js'),
            ]
            time.sleep(3)
            status, answer = upload_from(port, OTHER)
            assert status == 201, (status, answer)
            job = json.loads(answer)
            final = cluster.wait_job(job['id'], 60)
            assert final['state'] == 'done', final
            status, seconds, got = ask(port, result, OTHER)
            assert status == 200 and got == expected, (status, len(got))
            print(f'      the result ({len(got)} bytes) downloaded from {OTHER} in {seconds:.2f} s')
            outputs = [attack.communicate(timeout=ATTACK_SECONDS + 60)[0] for attack in attacks]
        for output in outputs:
            lines = [line for line in output.splitlines() if 'connected' in line or
                     'service available' in line]
            text = ' | '.join(' '.join(line.split()) for line in lines[-2:])
            print('      slowhttptest: ' + re.sub(r'\x1b\[[0-9;]*m', '', text))
        print(f'      {prober.answers} probes, slowest {prober.slowest:.2f} s; up to '
              f'{prober.most_waiting} connections sending their heads, '
              f'{prober.most_uploads_waiting} uploads and {prober.most_downloads_waiting} '
              f'downloads waiting their turn at once')
        assert not prober.failures, f'{len(prober.failures)} slow or failed probes: ' \
                                    f'{prober.failures[:10]}'
        assert prober.answers >= ATTACK_SECONDS, 'too few probes'
        assert prober.most_waiting >= 200, 'the slowloris never held many connections'
        assert prober.most_uploads_waiting >= 10, 'the slow bodies never queued'
        assert prober.most_downloads_waiting >= 10, 'the slow reads never queued'

    def test_event_stream_flood():
        port = cluster.http_port
        per_address = STREAMS_TOTAL // 8
        http_pid, = cluster.role_pids('http')
        rss_before = resident_kib(http_pid)
        sockets = []
        try:
            for source in STREAM_ADDRESSES:
                for _ in range(per_address):
                    s = socket.create_connection(('127.0.0.1', port), timeout=10,
                                                 source_address=(source, 0))
                    s.sendall(b'GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n')
                    sockets.append(s)
            # Every one is live: each sends its first `workers` event.
            for s in sockets:
                s.settimeout(10)
                got = b''
                while b'event: workers' not in got:
                    chunk = s.recv(65536)
                    assert chunk, 'an event stream was closed'
                    got += chunk
                assert got.startswith(b'HTTP/1.1 200'), got[:200]
            # One more from an address that has its share: 503, with the reason.
            status, _, body = ask(port, '/api/events', '127.0.0.1')
            assert status == 503 and b'your address' in body, (status, body)
            with Prober(port) as prober:
                time.sleep(5)
            _, _, text = ask(port, '/metrics', OTHER)
            open_streams = metric(text.decode(), 'framepipe_http_event_streams')
            rss = resident_kib(http_pid)
            print(f'      {len(sockets)} live event streams: http {rss_before / 1024:.0f} -> '
                  f'{rss / 1024:.0f} MiB ({(rss - rss_before) / len(sockets):.0f} KiB each); '
                  f'{prober.answers} probes meanwhile, slowest {prober.slowest:.2f} s')
            assert open_streams == len(sockets), open_streams
            assert not prober.failures, prober.failures[:10]
        finally:
            for s in sockets:
                s.close()
        wait_for(lambda: metric(ask(port, '/metrics', OTHER)[2].decode(),
                                'framepipe_http_event_streams') == 0, 15,
                 'the closed streams to end')

    def resident_kib(pid):
        with open(f'/proc/{pid}/status') as f:
            return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))

    main([test_slow_heads_bodies_and_reads_leave_the_api_answering, test_event_stream_flood])
