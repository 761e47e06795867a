"""Several hosts: a head and two worker hosts in network namespaces behind a switch, the head's link
shaped to 200 Mbit/s, each worker host with its own /dev/shm. Workers join with one endpoint, as
on a LAN. Jobs come out identical to the single-process loop; a worker host that dies or freezes
mid-job loses nothing. Skipped (exit 77) where namespaces cannot be built, with the reason."""
import ctypes
import os
import sys
import time

from cluster import (FRAMEPIPE, LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main,
                     run_locally, wait_for, workdir)
import hosts

reason = hosts.unavailable()
if reason:
    print(f'skipped: {reason}')
    sys.exit(77)

WORK = workdir('framepipe-hosts-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=30', seconds=8)
CHAIN = 'blur=sigma=2'
REFERENCE = frame_hashes(run_locally(SOURCE, CHAIN, os.path.join(WORK, 'reference.mp4'),
                                      LOSSLESS))
RAW_FRAME_BYTES = 640 * 360 * 3 // 2


def enter_network_namespace(name):
    """This process (and what it starts) joins the namespace: the test talks to the head as a
    user on the head's machine would."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f'/run/netns/{name}', os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), 'setns')
    finally:
        os.close(fd)


with hosts.Network(workers=2, head_rate='200mbit') as network:
    enter_network_namespace(network.head)
    with Cluster(workers=0, host=network.head_address) as cluster:
        started = {}

        def start_worker(host):
            log = os.path.join(WORK, f'{host}-{len(network.procs)}.log')
            started[host] = network.start(
                network.on_worker_host(host, [FRAMEPIPE, 'worker', cluster.registry]), log)

        for host in network.worker_hosts:
            start_worker(host)
        wait_for(lambda: len(cluster.workers_list()) >= 2, 30, 'a worker from each host')

        def run_job(disturb=None):
            before = network.link_bytes()
            code, job = cluster.submit(SOURCE, CHAIN, LOSSLESS)
            assert code == 201, job
            if disturb:
                wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 40,
                         60, 'the job to make progress')
                disturb()
            final = cluster.wait_job(job['id'], 240)
            assert final['state'] == 'done', final
            after = network.link_bytes()
            out = cluster.result(job['id'], os.path.join(WORK, job['id'] + '.mp4'))
            check_same_timing(SOURCE, out)
            assert frame_hashes(out) == REFERENCE, 'frames differ from the single-process loop'
            frames = len(REFERENCE)
            per_frame = (after[0] - before[0] + after[1] - before[1]) / frames
            return per_frame

        def test_frames_cross_hosts_and_come_out_identical():
            per_frame = run_job()
            workers = cluster.workers_list()
            assert len(workers) >= 2, workers
            busy = [w for w in workers if w.get('frames_done', 0) > 0]
            assert len(busy) >= 2, f'not every host worked: {workers}'
            # Every frame crossed the head's link raw, both ways: nothing went by shared memory.
            assert per_frame >= 1.9 * RAW_FRAME_BYTES, per_frame
            print(f'      head link: {per_frame / 1e6:.2f} MB per frame '
                  f'({per_frame / RAW_FRAME_BYTES:.2f} raw frames)')

        def test_a_worker_host_that_dies_mid_job_loses_nothing():
            victim = network.worker_hosts[0]
            run_job(lambda: network.kill_host(victim))
            start_worker(victim)  # the host comes back for the next test
            wait_for(lambda: len(cluster.workers_list()) >= 2, 30, 'the host to rejoin')

        def test_a_frozen_worker_host_is_worked_around():
            victim = network.worker_hosts[1]
            try:
                run_job(lambda: network.freeze_host(victim))
            finally:
                network.freeze_host(victim, False)

        main([test_frames_cross_hosts_and_come_out_identical,
              test_a_worker_host_that_dies_mid_job_loses_nothing,
              test_a_frozen_worker_host_is_worked_around])
