"""Work is never lost: workers die (SIGKILL) every second during a 1200-frame job and new ones join;
the registry is killed mid-job. The output has every frame, in order, identical to an undisturbed
run of the same job."""
import os
import signal
import time

from cluster import (LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main, run_locally,
                     wait_for, workdir)

WORK = workdir('framepipe-chaos-')
# Long enough for several kills on an idle machine (3 workers filter it at about 200 frames/s).
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=30', seconds=40)
CHAIN = 'blur=sigma=3,sharpen'
REFERENCE = frame_hashes(run_locally(SOURCE, CHAIN, os.path.join(WORK, 'reference.mp4'),
                                      LOSSLESS))


with Cluster(workers=0) as cluster:
    def test_killing_workers_every_second_loses_nothing():
        workers = [cluster.start_worker() for _ in range(3)]
        wait_for(lambda: len(cluster.workers_list()) >= 3, 20, '3 workers')
        code, job = cluster.submit(SOURCE, CHAIN, LOSSLESS)
        assert code == 201, job
        kills = 0
        while True:
            _, state = cluster.json(f"/api/jobs/{job['id']}")
            if state['state'] in ('done', 'failed', 'canceled'):
                break
            time.sleep(1)
            victim = workers.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            workers.append(cluster.start_worker())
            assert kills < 60, f'the job did not finish after {kills} kills: {state}'
        assert state['state'] == 'done', state
        assert kills >= 2, f'only {kills} kill(s) happened during the job: make it longer'
        out = cluster.result(job['id'], os.path.join(WORK, 'chaos.mp4'))
        check_same_timing(SOURCE, out)
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'
        print(f'      {kills} workers killed during the job')

    def test_registry_restart_mid_job():
        wait_for(lambda: len(cluster.workers_list()) >= 1, 20, 'a worker')
        code, job = cluster.submit(SOURCE, CHAIN, LOSSLESS)
        assert code == 201, job
        wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 30, 60,
                 'the job to make progress')
        cluster.kill_role('registry')
        # `up` restarts the registry; workers notice and say hello again by themselves.
        final = cluster.wait_job(job['id'], 180)
        assert final['state'] == 'done', final
        wait_for(lambda: len(cluster.workers_list()) >= 3, 20, 'workers to re-register')
        out = cluster.result(job['id'], os.path.join(WORK, 'registry.mp4'))
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'

    main([test_killing_workers_every_second_loses_nothing, test_registry_restart_mid_job])
