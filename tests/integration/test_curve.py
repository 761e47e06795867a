"""CURVE on: a worker with an allowed key joins and works; a worker with any other key is refused
during the handshake, never appears in the worker list and receives no frame."""
import os
import subprocess
import time

from cluster import (FRAMEPIPE, Cluster, check_same_timing, generate, main, wait_for, workdir)

WORK = workdir('framepipe-curve-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), seconds=2)
KEYS = os.path.join(WORK, 'keys')
os.makedirs(os.path.join(KEYS, 'workers'))
ROGUE = os.path.join(WORK, 'rogue')
for name in (os.path.join(KEYS, 'head'), os.path.join(KEYS, 'workers', 'good'), ROGUE):
    subprocess.run([FRAMEPIPE, 'keygen', name], check=True, capture_output=True)
assert oct(os.stat(os.path.join(KEYS, 'head.key')).st_mode & 0o777) == '0o600'

with Cluster(workers=0, extra=['--curve-dir', KEYS]) as cluster:
    def test_a_worker_without_an_allowed_key_is_refused():
        cluster.start_worker('--name', 'rogue', '--curve-key', ROGUE + '.key', '--curve-server',
                             os.path.join(KEYS, 'head.pub'))
        cluster.start_worker('--name', 'clear-text')  # no keys at all
        time.sleep(4)
        names = [w['name'] for w in cluster.workers_list()]
        assert 'rogue' not in names and 'clear-text' not in names, names
        code, job = cluster.submit(SOURCE, 'grayscale')
        assert code == 201, job
        time.sleep(3)
        _, state = cluster.json(f"/api/jobs/{job['id']}")
        assert state['state'] == 'queued' and state['frames_done'] == 0, state

    def test_an_allowed_worker_joins_and_finishes_the_job():
        cluster.start_worker('--name', 'good', '--curve-key',
                             os.path.join(KEYS, 'workers', 'good.key'), '--curve-server',
                             os.path.join(KEYS, 'head.pub'))
        wait_for(lambda: any(w['name'] == 'good' for w in cluster.workers_list()), 20,
                 'the allowed worker to register')
        _, jobs = cluster.json('/api/jobs')
        final = cluster.wait_job(jobs[0]['id'], 60)
        assert final['state'] == 'done', final
        check_same_timing(SOURCE, cluster.result(final['id'], os.path.join(WORK, 'out.mp4')))
        names = [w['name'] for w in cluster.workers_list()]
        assert names == ['good'], names
        with open(os.path.join(cluster.dir, 'up.log')) as log:
            assert 'refused a CURVE client' in log.read()

    main([test_a_worker_without_an_allowed_key_is_refused,
          test_an_allowed_worker_joins_and_finishes_the_job])
