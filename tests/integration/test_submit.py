"""`framepipe submit` against a real cluster, as a user scripts it: the format from the output's
extension, the result identical to the single-process loop's, a progress line on stderr, the head's
reason and exit 1 when a job is refused or fails (and no output file left), Ctrl-C cancels the job
on the head (exit 130), the token from FRAMEPIPE_TOKEN, and a job followed through an http-frontend
restart."""
import json
import os
import signal
import subprocess
import time

from cluster import (FRAMEPIPE, LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main,
                     probe, run_locally, wait_for, workdir)

WORK = workdir('framepipe-submit-')
SHORT = generate(os.path.join(WORK, 'short.mp4'), 'testsrc2=size=320x240:rate=25', seconds=2)
# Long enough, at preset medium, to be running when it is interrupted.
LONG = generate(os.path.join(WORK, 'long.mp4'), 'testsrc2=size=640x360:rate=30', seconds=20)


TOKEN = 's3cret-token-for-submit'


def submit(cluster, source, output, *args, token=TOKEN, wait=True):
    command = [FRAMEPIPE, 'submit', source, '-o', output, '--head', cluster.api, *args]
    environment = dict(os.environ)
    environment.pop('FRAMEPIPE_TOKEN', None)
    if token is not None:
        environment['FRAMEPIPE_TOKEN'] = token
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environment)
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    return done.returncode, done.stderr


def jobs(cluster):
    code, body = cluster.json('/api/jobs')
    assert code == 200, body
    return body


def codecs(path):
    streams = probe(path)['streams']
    return sorted(s['codec_name'] for s in streams)


def container(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'format=format_name', '-of',
                          'json', path], capture_output=True, text=True, check=True).stdout
    return json.loads(out)['format']['format_name']


# The head asks for a token (--api-token), as a shared cluster would.
with Cluster(workers=2, api_token=TOKEN) as cluster:
    def test_format_from_the_extension_and_frames_as_the_local_loop():
        out = os.path.join(WORK, 'gray.mkv')
        code, err = submit(cluster, SHORT, out, '--filters', 'grayscale',
                           *[f'--{k}={v}' for k, v in LOSSLESS.items()])
        assert code == 0, err
        assert 'submitted' in err and 'done' in err, err
        assert container(out) == 'matroska,webm', container(out)
        assert codecs(out) == ['aac', 'h264'], codecs(out)
        check_same_timing(SHORT, out)
        reference = run_locally(SHORT, 'grayscale', os.path.join(WORK, 'gray-ref.mp4'), LOSSLESS)
        assert frame_hashes(out) == frame_hashes(reference)
        assert not os.path.exists(out + '.part')

    def test_an_audio_format_and_quiet():
        out = os.path.join(WORK, 'sound.MP3')
        code, err = submit(cluster, SHORT, out, '--quiet')
        assert code == 0, err
        assert err == '', err
        assert codecs(out) == ['mp3'], codecs(out)

    def test_refusals_give_the_reason_and_leave_no_file():
        before = len(jobs(cluster))
        out = os.path.join(WORK, 'out.xyz')
        code, err = submit(cluster, SHORT, out)
        assert code == 1 and 'give --format' in err and 'webm' in err, (code, err)
        code, err = submit(cluster, SHORT, out, '--format', 'mpeg2')
        assert code == 1 and 'unknown --format' in err, (code, err)
        assert len(jobs(cluster)) == before, 'a job was made for a refused format'
        out = os.path.join(WORK, 'refused.mp4')
        code, err = submit(cluster, SHORT, out, '--filters', 'nosuchfilter')
        assert code == 1 and 'HTTP 400' in err and 'nosuchfilter' in err, (code, err)
        assert not os.path.exists(out) and not os.path.exists(out + '.part')
        code, err = submit(cluster, SHORT, SHORT)  # the output is the input
        assert code == 1 and 'is the input itself' in err, (code, err)
        assert os.path.getsize(SHORT) > 0

    def test_a_failed_job_exits_1_with_the_heads_reason():
        garbage = os.path.join(WORK, 'garbage.mp4')
        with open(garbage, 'wb') as f:
            f.write(os.urandom(200_000))
        out = os.path.join(WORK, 'garbage-out.mp4')
        code, err = submit(cluster, garbage, out)
        assert code == 1, (code, err)
        assert 'refused' in err or 'failed' in err, err
        assert not os.path.exists(out) and not os.path.exists(out + '.part')

    def start_long_job(out, chain):
        """`submit` of the long clip in the background, once its job runs on the head."""
        proc = submit(cluster, LONG, out, '--preset', 'medium', '--filters', chain, wait=False)
        try:
            wait_for(lambda: any(j['state'] == 'running' and j['frames_done'] > 10
                                 for j in jobs(cluster)), 60, 'the job to run')
        except Exception:
            proc.kill()
            raise
        return proc

    def test_ctrl_c_cancels_the_job_on_the_head():
        out = os.path.join(WORK, 'interrupted.mp4')
        proc = start_long_job(out, 'blur=sigma=6')
        try:
            started = time.time()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, (proc.returncode, err)
        assert time.time() - started < 5, 'Ctrl-C took too long'
        assert 'canceled on the head' in err, err
        job = [j for j in jobs(cluster) if j['input_name'] == 'long.mp4'][-1]
        assert job['state'] == 'canceled', job
        assert not os.path.exists(out) and not os.path.exists(out + '.part')

    def test_the_job_is_followed_through_an_http_restart():
        out = os.path.join(WORK, 'restarted.mp4')
        proc = start_long_job(out, 'blur=sigma=2')
        try:
            cluster.kill_role('http')  # `up` starts another; the job goes on in the cluster
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        check_same_timing(LONG, out)

    def test_the_token_comes_from_the_environment():
        out = os.path.join(WORK, 'token.mp4')
        for token in (None, 'wrong'):
            code, err = submit(cluster, SHORT, out, token=token)
            assert code == 1 and 'HTTP 401' in err and 'FRAMEPIPE_TOKEN' in err, (token, code, err)
            assert not os.path.exists(out) and not os.path.exists(out + '.part')

    main([test_format_from_the_extension_and_frames_as_the_local_loop,
          test_an_audio_format_and_quiet, test_refusals_give_the_reason_and_leave_no_file,
          test_a_failed_job_exits_1_with_the_heads_reason, test_ctrl_c_cancels_the_job_on_the_head,
          test_the_job_is_followed_through_an_http_restart,
          test_the_token_comes_from_the_environment])
