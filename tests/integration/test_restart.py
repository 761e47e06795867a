"""Restarting a role mid-job never hangs a job: after a sink restart the job starts again and
finishes with the right frames; after a ventilator restart it fails with a clear reason; new jobs
work afterwards. The job list survives a restart of the whole head."""
import os

from cluster import (LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main, run_locally,
                     wait_for, workdir)

WORK = workdir('framepipe-restart-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=30', seconds=12)
CHAIN = 'blur=sigma=3'
REFERENCE = frame_hashes(run_locally(SOURCE, CHAIN, os.path.join(WORK, 'reference.mp4'),
                                      LOSSLESS))


def start_and_wait_progress(cluster):
    code, job = cluster.submit(SOURCE, CHAIN, LOSSLESS)
    assert code == 201, job
    wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 40, 60,
             'the job to make progress')
    return job['id']


with Cluster(workers=2) as cluster:
    def test_sink_restart_mid_job_starts_the_job_again():
        job_id = start_and_wait_progress(cluster)
        cluster.kill_role('sink')
        final = cluster.wait_job(job_id, 180)
        assert final['state'] == 'done', final
        out = cluster.result(job_id, os.path.join(WORK, 'sink.mp4'))
        check_same_timing(SOURCE, out)
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'

    def test_ventilator_restart_mid_job_fails_it_with_a_reason():
        job_id = start_and_wait_progress(cluster)
        cluster.kill_role('ventilator')
        final = cluster.wait_job(job_id, 60)
        assert final['state'] == 'failed', final
        assert 'ventilator' in final['error'], final

    def test_new_jobs_work_after_restarts():
        wait_for(lambda: cluster.health_code() == 200, 30, 'the head to be healthy again')
        out = cluster.process(SOURCE, 'grayscale', WORK)
        check_same_timing(SOURCE, out)

    main([test_sink_restart_mid_job_starts_the_job_again,
          test_ventilator_restart_mid_job_fails_it_with_a_reason,
          test_new_jobs_work_after_restarts])
