"""Restarting a role mid-job never hangs a job: after a sink restart the job starts again and
finishes with the right frames; after an http-frontend restart the new one follows the job the
cluster carried on with to the end, frames identical; after a ventilator restart it fails with a
clear reason; new jobs work afterwards."""
import os
import sqlite3

from cluster import (LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main, run_locally,
                     wait_for, workdir)

WORK = workdir('framepipe-restart-')
# Long enough (900 frames, several seconds here) to outlast a role's restart by far.
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=30', seconds=30)
CHAIN = 'blur=sigma=8'
REFERENCE = frame_hashes(run_locally(SOURCE, CHAIN, os.path.join(WORK, 'reference.mp4'),
                                      LOSSLESS))


def start_and_wait_progress(cluster, fields=LOSSLESS):
    code, job = cluster.submit(SOURCE, CHAIN, fields)
    assert code == 201, job
    wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 40, 60,
             'the job to make progress')
    return job['id']


def stored_frames_done(cluster, job_id):
    """The job's progress as the http-frontend last wrote it to its SQLite file (read only)."""
    path = os.path.join(cluster.data_dir, 'framepipe.db')
    connection = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    try:
        row = connection.execute('SELECT frames_done FROM jobs WHERE id = ?', (job_id,)).fetchone()
        return row[0] if row else 0
    finally:
        connection.close()


with Cluster(workers=2) as cluster:
    def test_sink_restart_mid_job_starts_the_job_again():
        job_id = start_and_wait_progress(cluster)
        cluster.kill_role('sink')
        final = cluster.wait_job(job_id, 180)
        assert final['state'] == 'done', final
        out = cluster.result(job_id, os.path.join(WORK, 'sink.mp4'))
        check_same_timing(SOURCE, out)
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'

    def test_http_restart_mid_job_follows_the_job_to_its_end():
        job_id = start_and_wait_progress(cluster)
        # Running progress is written to the job list about once a second.
        wait_for(lambda: stored_frames_done(cluster, job_id) > 40, 30, 'progress on disk')
        old_http = cluster.role_pids('http')
        cluster.kill_role('http')  # `up` starts a new one within a second or two
        wait_for(lambda: cluster.role_pids('http') not in ([], old_http) and
                 cluster.health_code() is not None, 30, 'a new http-frontend to answer')
        code, job = cluster.json(f'/api/jobs/{job_id}')
        assert code == 200, (code, job)
        # The new process kept the job's state and numbers while it asked the cluster about it
        # (on a fast machine the cluster may have finished it meanwhile: then the sink's
        # re-published final report told the new process so).
        assert job['state'] in ('running', 'done'), f'after the http restart the job is {job}'
        assert job['frames_done'] > 40, f'progress was reset: {job}'
        final = cluster.wait_job(job_id, 180)
        assert final['state'] == 'done', final
        assert final['frames_done'] == final['frames_total'] == len(REFERENCE), final
        out = cluster.result(job_id, os.path.join(WORK, 'http.mp4'))
        check_same_timing(SOURCE, out)
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'

    def test_ventilator_restart_mid_job_fails_it_with_a_reason():
        # A slower encoder keeps the job running for a while: on an idle machine the ultrafast
        # job was fully dealt (and rightly done) before the ventilator could be killed mid-job.
        job_id = start_and_wait_progress(cluster, {'crf': '0', 'preset': 'medium'})
        cluster.kill_role('ventilator')
        final = cluster.wait_job(job_id, 60)
        assert final['state'] == 'failed', final
        assert 'ventilator' in final['error'], final

    def test_new_jobs_work_after_restarts():
        wait_for(lambda: cluster.health_code() == 200, 30, 'the head to be healthy again')
        out = cluster.process(SOURCE, 'grayscale', WORK)
        check_same_timing(SOURCE, out)

    main([test_sink_restart_mid_job_starts_the_job_again,
          test_http_restart_mid_job_follows_the_job_to_its_end,
          test_ventilator_restart_mid_job_fails_it_with_a_reason,
          test_new_jobs_work_after_restarts])
