"""The job list and the results live on disk under the data directory: when the whole head stops
(SIGKILL of `framepipe up` and every role at once, then SIGTERM), a head started on the same data
directory lists the finished jobs with their results byte for byte, marks the job that was running
as failed with a clear reason instead of leaving it running for ever, sweeps away an upload cut off
by the stop, and runs new jobs."""
import os
import signal
import sqlite3
import subprocess

from cluster import (Cluster, generate, job_directories, main, sha256, start_partial_upload,
                     wait_for, wait_partial_upload, workdir)

WORK = workdir('framepipe-head-restart-')
DATA = os.path.join(WORK, 'data')
SHORT = generate(os.path.join(WORK, 'short.mp4'), 'testsrc2=size=160x120:rate=10', seconds=1)
LONG = generate(os.path.join(WORK, 'long.mp4'), 'testsrc2=size=640x360:rate=30', seconds=20,
                codec=('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'))
SLOW_CHAIN = 'blur=sigma=8'
# What every test learns and the next one checks.
jobs = {}


def stored_states():
    """The job rows as the head left them in its SQLite file (read only, like a crash leaves it)."""
    connection = sqlite3.connect(f"file:{os.path.join(DATA, 'framepipe.db')}?mode=ro", uri=True)
    try:
        return dict(connection.execute('SELECT id, state FROM jobs'))
    finally:
        connection.close()


def finished_job(cluster, chain):
    """Runs SHORT through `chain`; returns the job id and the sha256 of its result."""
    code, job = cluster.submit(SHORT, chain)
    assert code == 201, job
    final = cluster.wait_job(job['id'], 60)
    assert final['state'] == 'done', final
    return job['id'], sha256(cluster.result(job['id'], os.path.join(WORK, job['id'] + '.mp4')))


def start_running_job(cluster):
    code, job = cluster.submit(LONG, SLOW_CHAIN)
    assert code == 201, job

    def running():
        state = cluster.json(f"/api/jobs/{job['id']}")[1]
        assert state['state'] in ('queued', 'running'), f'the long job ended early: {state}'
        return state['state'] == 'running' and state['frames_done'] > 0

    wait_for(running, 60, 'the long job to run')
    return job['id']


def stop_head(cluster, sig):
    """Stops `framepipe up` and all its roles: SIGKILL to the whole process group (nothing can
    clean up), or SIGTERM to `up` (the designed shutdown)."""
    if sig == signal.SIGKILL:
        os.killpg(cluster.proc.pid, signal.SIGKILL)
    else:
        cluster.proc.send_signal(sig)
    try:
        cluster.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f'framepipe up did not stop within 30 s of {sig.name}') from None
    wait_for(lambda: not cluster.role_pids(), 15, 'every role of the head to exit')


def check_interrupted(cluster, job_id):
    # A restarted head asks the cluster about the jobs it left running before it gives up on them.
    wait_for(lambda: cluster.json(f'/api/jobs/{job_id}')[1]['state'] not in ('queued', 'running'),
             30, f'the new head to learn that the cluster lost job {job_id}')
    code, job = cluster.json(f'/api/jobs/{job_id}')
    assert code == 200, (code, job)
    assert job['state'] == 'failed', f'the job running at the stop is {job["state"]}: {job}'
    assert 'interrupted' in job['error'] and 'restart' in job['error'], job
    code, _, _ = cluster.request('GET', f'/api/jobs/{job_id}/result')
    assert code == 409, f'result of an interrupted job: HTTP {code}'
    assert job_id not in job_directories(cluster), 'the interrupted job kept its files'


def check_done(cluster, job_id, digest):
    code, job = cluster.json(f'/api/jobs/{job_id}')
    assert code == 200 and job['state'] == 'done', (code, job)
    out = cluster.result(job_id, os.path.join(WORK, f'again-{job_id}.mp4'))
    assert sha256(out) == digest, 'the result differs from the one served before the stop'


def test_sigkill_of_the_whole_head():
    with Cluster(workers=1, data_dir=DATA) as cluster:
        jobs['done'], jobs['done_sha256'] = finished_job(cluster, 'grayscale')
        jobs['killed'] = start_running_job(cluster)
        before = job_directories(cluster)
        upload = start_partial_upload(cluster, 4_000_000, 2_000_000)
        cut_upload = wait_partial_upload(cluster, before)
        stop_head(cluster, signal.SIGKILL)
        upload.close()
    # What the crash left on disk: the store is a file, and it still says "running".
    assert stored_states() == {jobs['done']: 'done', jobs['killed']: 'running'}, stored_states()

    with Cluster(workers=1, data_dir=DATA) as cluster:
        code, listed = cluster.json('/api/jobs')
        assert code == 200, code
        assert [j['id'] for j in listed] == [jobs['killed'], jobs['done']], listed
        check_done(cluster, jobs['done'], jobs['done_sha256'])
        check_interrupted(cluster, jobs['killed'])
        assert cut_upload not in job_directories(cluster), 'the cut-off upload was left on disk'
        jobs['after_kill'], _ = finished_job(cluster, 'invert')
        # The same head is stopped the designed way, with a job running.
        jobs['terminated'] = start_running_job(cluster)
        stop_head(cluster, signal.SIGTERM)


def test_sigterm_of_up_then_a_third_head():
    assert 'terminated' in jobs, 'needs the previous test'
    with Cluster(workers=1, data_dir=DATA) as cluster:
        check_interrupted(cluster, jobs['terminated'])
        code, listed = cluster.json('/api/jobs')
        assert code == 200, code
        assert {j['id']: j['state'] for j in listed} == {
            jobs['done']: 'done', jobs['killed']: 'failed', jobs['after_kill']: 'done',
            jobs['terminated']: 'failed'}, listed
        check_interrupted(cluster, jobs['terminated'])
        check_interrupted(cluster, jobs['killed'])
        check_done(cluster, jobs['done'], jobs['done_sha256'])
        finished_job(cluster, 'copy')
    assert set(stored_states().values()) == {'done', 'failed'}, stored_states()


main([test_sigkill_of_the_whole_head, test_sigterm_of_up_then_a_third_head])
