"""A job submitted with no worker waits, says why, and finishes once a worker joins with only the
registry's endpoint. A job whose chain leaves pixels alone (a format conversion) needs no worker:
its frames go from the ventilator straight to the sink, identical to the single-process loop's."""
import os
import time

from cluster import (LOSSLESS, workdir, Cluster, check_same_timing, frame_hashes, generate, main,
                     run_locally)

WORK = workdir('framepipe-late-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), seconds=2)

with Cluster(workers=0) as cluster:
    def test_copy_needs_no_worker():
        code, job = cluster.submit(SOURCE, 'copy', LOSSLESS)
        assert code == 201, job
        final = cluster.wait_job(job['id'], 60)
        assert final['state'] == 'done', final
        out = cluster.result(job['id'], os.path.join(WORK, 'copy.mp4'))
        check_same_timing(SOURCE, out)
        reference = run_locally(SOURCE, 'copy', os.path.join(WORK, 'reference.mp4'), LOSSLESS)
        assert frame_hashes(out) == frame_hashes(reference), 'frames differ from the local loop'

    def test_job_waits_for_first_worker():
        code, job = cluster.submit(SOURCE, 'grayscale')
        assert code == 201, job
        time.sleep(3)
        _, state = cluster.json(f"/api/jobs/{job['id']}")
        assert state['state'] == 'queued', state
        assert 'worker' in (state.get('message') or ''), state
        assert f'framepipe worker tcp://127.0.0.1:{cluster.base}' in state['message'], state
        cluster.start_worker()
        final = cluster.wait_job(job['id'], 60)
        assert final['state'] == 'done', final
        out = cluster.result(job['id'], os.path.join(WORK, 'out.mp4'))
        check_same_timing(SOURCE, out)

    main([test_copy_needs_no_worker, test_job_waits_for_first_worker])
