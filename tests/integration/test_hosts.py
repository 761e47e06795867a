"""Several hosts: a head and two worker hosts in network namespaces behind a switch, the head's link
shaped to 200 Mbit/s, each worker host with its own /dev/shm. Workers join with one endpoint, as
on a LAN. Jobs dealt as frames and as segments come out identical to the single-process loop; auto
picks segments for workers on other hosts, and the head's link then carries less than a tenth of
a raw frame per frame; a worker host that dies or freezes mid-job loses nothing, and the result is
the same file to the frame whoever encoded which segment. Skipped (exit 77) where namespaces cannot
be built, with the reason."""
import ctypes
import os
import subprocess
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
# A keyframe every second and B-frames (x264's veryfast): 1-second segments whose B-frames lean on
# the segment before, as most cameras' files do.
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=30', seconds=8,
                  codec=('-c:v', 'libx264', '-preset', 'veryfast', '-g', '30', '-pix_fmt',
                         'yuv420p'))
CHAIN = 'blur=sigma=2'
REFERENCE = frame_hashes(run_locally(SOURCE, CHAIN, os.path.join(WORK, 'reference.mp4'),
                                      LOSSLESS))
RAW_FRAME_BYTES = 640 * 360 * 3 // 2


def audio_packets(path):
    """The audio stream's packets: time, duration and size. Audio is handled once at the head,
    never chunked: a result's must be the source's, so nothing drifts at the segments' joins."""
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'a:0', '-show_entries',
                          'packet=pts_time,duration_time,size', '-of', 'csv=p=0', path],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


SOURCE_AUDIO = audio_packets(SOURCE)


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
    with Cluster(workers=0, host=network.head_address,
                 extra=['--segment-seconds', '1']) as cluster:
        started = {}

        def start_worker(host):
            log = os.path.join(WORK, f'{host}-{len(network.procs)}.log')
            started[host] = network.start(
                network.on_worker_host(host, [FRAMEPIPE, 'worker', cluster.registry]), log)

        for host in network.worker_hosts:
            start_worker(host)
        wait_for(lambda: len(cluster.workers_list()) >= 2, 30, 'a worker from each host')

        def run_job(distribution, disturb=None, quality=LOSSLESS, reference=REFERENCE):
            """Runs the job; returns the head link's bytes per frame and the result's frames."""
            before = network.link_bytes()
            code, job = cluster.submit(SOURCE, CHAIN, {**quality, 'distribution': distribution})
            assert code == 201, job
            if disturb:
                wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 40,
                         60, 'the job to make progress')
                disturb()
            final = cluster.wait_job(job['id'], 240)
            assert final['state'] == 'done', final
            mode = 'frames' if distribution == 'frames' else 'segments'
            assert final['distribution']['mode'] == mode, final['distribution']
            after = network.link_bytes()
            out = cluster.result(job['id'], os.path.join(WORK, job['id'] + '.mp4'))
            check_same_timing(SOURCE, out)
            assert audio_packets(out) == SOURCE_AUDIO, 'the audio differs from the source'
            hashes = frame_hashes(out)
            if reference is not None:
                assert hashes == reference, 'frames differ from the single-process loop'
            frames = len(REFERENCE)
            per_frame = (after[0] - before[0] + after[1] - before[1]) / frames
            return per_frame, hashes

        def test_frames_cross_hosts_and_come_out_identical():
            per_frame, _ = run_job('frames')
            workers = cluster.workers_list()
            assert len(workers) >= 2, workers
            busy = [w for w in workers if w.get('frames_done', 0) > 0]
            assert len(busy) >= 2, f'not every host worked: {workers}'
            # Every frame crossed the head's link raw, both ways: nothing went by shared memory.
            assert per_frame >= 1.9 * RAW_FRAME_BYTES, per_frame
            print(f'      head link: {per_frame / 1e6:.2f} MB per frame '
                  f'({per_frame / RAW_FRAME_BYTES:.2f} raw frames)')

        def test_auto_deals_segments_to_other_hosts_frame_exact():
            per_frame, _ = run_job('auto')
            print(f'      head link, lossless segments: {per_frame / 1e6:.3f} MB per frame')

        # The product's default quality (veryfast, CRF 20): what every later run must reproduce.
        segmented = {}

        def test_segments_cut_the_head_link_to_a_tenth():
            per_frame, segmented['hashes'] = run_job('auto', quality={}, reference=None)
            print(f'      head link: {per_frame / 1e3:.1f} kB per frame '
                  f'({per_frame / RAW_FRAME_BYTES:.3f} raw frames)')
            assert per_frame <= 0.1 * RAW_FRAME_BYTES, per_frame
            again = run_job('segments', quality={}, reference=None)[1]
            assert again == segmented['hashes'], 'the same job gave other frames the second time'

        def test_a_worker_host_that_dies_mid_job_loses_nothing():
            victim = network.worker_hosts[0]
            run_job('frames', lambda: network.kill_host(victim))
            start_worker(victim)
            wait_for(lambda: len(cluster.workers_list()) >= 2, 30, 'the host to rejoin')
            hashes = run_job('segments', lambda: network.kill_host(victim), quality={},
                             reference=None)[1]
            assert hashes == segmented['hashes'], 'a worker death changed the segmented result'
            start_worker(victim)  # the host comes back for the next test
            wait_for(lambda: len(cluster.workers_list()) >= 2, 30, 'the host to rejoin')

        def test_a_frozen_worker_host_is_worked_around():
            victim = network.worker_hosts[1]
            try:
                run_job('frames', lambda: network.freeze_host(victim))
            finally:
                network.freeze_host(victim, False)
            try:
                hashes = run_job('segments', lambda: network.freeze_host(victim), quality={},
                                 reference=None)[1]
                assert hashes == segmented['hashes'], 'a frozen worker changed the segmented result'
            finally:
                network.freeze_host(victim, False)

        main([test_frames_cross_hosts_and_come_out_identical,
              test_auto_deals_segments_to_other_hosts_frame_exact,
              test_segments_cut_the_head_link_to_a_tenth,
              test_a_worker_host_that_dies_mid_job_loses_nothing,
              test_a_frozen_worker_host_is_worked_around])
