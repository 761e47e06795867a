"""Many users at once: 8 jobs submitted at the same moment all finish correctly, and a short job
submitted after a long one is not kept waiting for it (frames of jobs are interleaved)."""
import os

from cluster import Cluster, all_at_once, check_same_timing, generate, main, workdir

WORK = workdir('framepipe-concurrency-')
SHORT = generate(os.path.join(WORK, 'short.mp4'), 'testsrc2=size=320x240:rate=25', seconds=2)
LONG = generate(os.path.join(WORK, 'long.mp4'), 'testsrc2=size=640x360:rate=30', seconds=40)

with Cluster(workers=2) as cluster:
    def test_eight_jobs_at_once():
        results = all_at_once(
            8, lambda i: cluster.submit(SHORT, ['grayscale', 'invert', 'blur', 'copy'][i % 4]))
        for code, job in results:
            assert code == 201, job
        for i, (_, job) in enumerate(results):
            final = cluster.wait_job(job['id'], 240)
            assert final['state'] == 'done', final
            check_same_timing(SHORT, cluster.result(job['id'], os.path.join(WORK, f'{i}.mp4')))

    def test_short_job_is_not_stuck_behind_a_long_one():
        code, long_job = cluster.submit(LONG, 'blur=sigma=4')
        assert code == 201, long_job
        from cluster import wait_for
        wait_for(lambda: cluster.json(f"/api/jobs/{long_job['id']}")[1]['frames_done'] > 30, 60,
                 'the long job to be running')
        code, short_job = cluster.submit(SHORT, 'grayscale')
        assert code == 201, short_job
        final = cluster.wait_job(short_job['id'], 120)
        assert final['state'] == 'done', final
        _, long_state = cluster.json(f"/api/jobs/{long_job['id']}")
        assert long_state['state'] == 'running', \
            f"the short job finished only after the long one: {long_state['state']}"
        assert long_state['frames_done'] < long_state['frames_total'], long_state
        cluster.request('DELETE', f"/api/jobs/{long_job['id']}")

    main([test_eight_jobs_at_once, test_short_job_is_not_stuck_behind_a_long_one])
