"""Frames reach the sink (copy jobs) and workers by shared memory when they run on the
ventilator's machine.

The output is frame-identical to the single-process loop's whether frames go by shared memory, over
TCP (--no-shared-memory), or half and half (a /dev/shm too small for the decoder's buffers, in a
mount namespace the test creates). No object is left in /dev/shm after a job, nor after the
ventilator is killed (the next one removes its orphans). Results that lie about shared memory are
refused; one naming an object that does not exist turns the job over to TCP and loses nothing.
Usage: test_shared_memory.py path/to/framepipe path/to/hostile_peer
"""
import os
import subprocess
import sys

from cluster import (LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main,
                     run_locally, wait_for, workdir)

HOSTILE = sys.argv[2]
WORK = workdir('framepipe-shm-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), seconds=3)
REFERENCE = frame_hashes(run_locally(SOURCE, 'copy', os.path.join(WORK, 'ref.mp4'), LOSSLESS))
GRAY_REFERENCE = frame_hashes(run_locally(SOURCE, 'grayscale', os.path.join(WORK, 'gref.mp4'),
                                          LOSSLESS))
# Lossless at a slow preset: the same frames, but a job long enough to act on while it runs. Dealt
# as frames: with `auto` a copy job of an H.264 source is a container change that decodes nothing.
SLOW = {'crf': '0', 'preset': 'veryslow', 'distribution': 'frames'}
FRAMES = dict(LOSSLESS, distribution='frames')
LONG_SOURCE = generate(os.path.join(WORK, 'long.mp4'), video='testsrc2=size=640x360:rate=25',
                       seconds=12)
LONG_REFERENCE = frame_hashes(run_locally(LONG_SOURCE, 'copy', os.path.join(WORK, 'lref.mp4'),
                                          LOSSLESS))


def objects_of(pid, root='/dev/shm'):
    """Names in /dev/shm of the process `pid`'s shared memory."""
    prefix = f'framepipe-{pid}-'
    return sorted(name for name in os.listdir(root) if name.startswith(prefix))


def run_copy(cluster, name, fields=None, source=SOURCE, chain='copy'):
    if fields is None:
        fields = FRAMES if chain == 'copy' else LOSSLESS
    code, job = cluster.submit(source, chain, fields)
    assert code == 201, job
    final = cluster.wait_job(job['id'], 180)
    assert final['state'] == 'done', final
    out = cluster.result(job['id'], os.path.join(WORK, name))
    check_same_timing(source, out)
    return final, out


def sink_frames_shared(cluster):
    _, health = cluster.json('/health')
    return health['sink']['frames_shared']


def worker_frames(cluster):
    """(frames done, frames read by shared memory) over the cluster's workers."""
    workers = cluster.workers_list()
    return (sum(w['frames_done'] for w in workers), sum(w['frames_shared'] for w in workers))


def test_workers_read_frames_by_shared_memory():
    with Cluster(workers=1) as cluster:
        final, out = run_copy(cluster, 'gray.mp4', chain='grayscale')
        assert frame_hashes(out) == GRAY_REFERENCE, 'frames differ from the local loop'
        frames = final['frames_total']
        wait_for(lambda: worker_frames(cluster)[0] >= frames, 10, 'the worker to report its frames')
        done, shared = worker_frames(cluster)
        # The ventilator's SharedProbe tells the worker where the probe is before its first frame
        # (a frame dealt before the worker answered comes with its planes).
        assert frames - 3 <= shared <= done, (frames, done, shared)


def test_copy_goes_by_shared_memory():
    with Cluster(workers=0) as cluster:
        (ventilator,) = cluster.role_pids('ventilator')
        assert objects_of(ventilator) == [f'framepipe-{ventilator}-probe']
        final, out = run_copy(cluster, 'shared.mp4')
        assert final['shared_memory'] is True, final
        assert frame_hashes(out) == REFERENCE, 'frames differ from the local loop'
        frames = final['frames_total']
        wait_for(lambda: sink_frames_shared(cluster) >= frames, 10,
                 f'the sink to report {frames} frames read by shared memory')
        assert sink_frames_shared(cluster) == frames
        _, metrics, _ = cluster.request('GET', '/metrics')
        assert f'framepipe_frames_shared_total {frames}' in metrics.decode(), metrics[:2000]
        # Every frame buffer goes once the job is done; the probe stays.
        wait_for(lambda: objects_of(ventilator) == [f'framepipe-{ventilator}-probe'], 10,
                 f'the job\'s buffers to leave /dev/shm (left: {objects_of(ventilator)})')


def test_no_shared_memory_goes_over_tcp():
    with Cluster(workers=1, extra=['--no-shared-memory']) as cluster:
        (ventilator,) = cluster.role_pids('ventilator')
        final, out = run_copy(cluster, 'tcp.mp4')
        assert final['shared_memory'] is False, final
        assert frame_hashes(out) == REFERENCE, 'frames differ from the local loop'
        assert sink_frames_shared(cluster) == 0
        final, out = run_copy(cluster, 'tcp-gray.mp4', chain='grayscale')
        assert frame_hashes(out) == GRAY_REFERENCE, 'frames differ from the local loop'
        wait_for(lambda: worker_frames(cluster)[0] >= final['frames_total'], 10,
                 'the worker to report its frames')
        assert worker_frames(cluster)[1] == 0
        assert objects_of(ventilator) == [], objects_of(ventilator)


def test_buffers_removed_midway_lose_nothing():
    """Names unlinked from /dev/shm while a job runs (mappings already made keep working): a
    worker or the sink that cannot open a buffer turns to frames with planes; nothing is lost."""
    reference = frame_hashes(run_locally(LONG_SOURCE, 'grayscale', os.path.join(WORK, 'lg.mp4'),
                                         LOSSLESS))
    with Cluster(workers=1) as cluster:
        (ventilator,) = cluster.role_pids('ventilator')
        code, job = cluster.submit(LONG_SOURCE, 'grayscale', SLOW)
        assert code == 201, job
        wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 0, 60,
                 'the job to make progress')
        for name in objects_of(ventilator):
            if not name.endswith('-probe'):
                os.unlink(os.path.join('/dev/shm', name))
        final = cluster.wait_job(job['id'], 300)
        assert final['state'] == 'done', final
        out = cluster.result(job['id'], os.path.join(WORK, 'unlinked.mp4'))
        assert frame_hashes(out) == reference, 'frames differ from the local loop'
        assert cluster.health_code() == 200


def test_small_dev_shm_sends_the_rest_over_tcp():
    """A 1 MiB /dev/shm holds a few 320x240 buffers: those frames go by reference, the others
    come from ordinary memory and go over TCP, in the same job."""
    wrapper = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
               'mount -t tmpfs -o size=1m framepipe-test /dev/shm && exec "$@"', 'sh']
    with Cluster(workers=0, wrapper=wrapper) as cluster:
        (ventilator,) = cluster.role_pids('ventilator')
        inside = f'/proc/{ventilator}/root/dev/shm'
        assert objects_of(ventilator, inside) == [f'framepipe-{ventilator}-probe']
        final, out = run_copy(cluster, 'small.mp4')
        assert final['shared_memory'] is True, final
        assert frame_hashes(out) == REFERENCE, 'frames differ from the local loop'
        frames = final['frames_total']
        wait_for(lambda: sink_frames_shared(cluster) > 0, 10, 'a frame read by shared memory')
        assert sink_frames_shared(cluster) < frames, 'a 1 MiB /dev/shm held every frame'
        with open(os.path.join(cluster.dir, 'up.log')) as f:
            assert 'make /dev/shm larger' in f.read()


def test_lies_about_shared_memory_are_refused():
    with Cluster(workers=0) as cluster:
        (ventilator,) = cluster.role_pids('ventilator')
        code, job = cluster.submit(LONG_SOURCE, 'copy', SLOW)
        assert code == 201, job

        def buffers():
            return [name for name in objects_of(ventilator) if not name.endswith('-probe')]

        wait_for(lambda: buffers() and cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'],
                 60, 'the job to run with frames in shared memory')
        name = buffers()[0]
        prefix = '/' + name[:name.rindex('-') + 1]
        # As the last frame, which is not decoded yet: a lie let in would replace it.
        last = str(len(LONG_REFERENCE) - 1)
        lies = subprocess.run([HOSTILE, 'shared', str(cluster.base), job['id'], last, '640', '360',
                               prefix], capture_output=True, text=True, timeout=60)
        assert lies.returncode == 0, lies.stderr
        final = cluster.wait_job(job['id'], 300)
        assert final['state'] == 'done', final
        # The last lie named an object of the job's shape that does not exist: the sink stopped
        # reading the job by reference, the ventilator sent the rest over TCP, nothing was lost.
        assert final['shared_memory'] is False, final
        out = cluster.result(job['id'], os.path.join(WORK, 'lies.mp4'))
        assert frame_hashes(out) == LONG_REFERENCE, 'frames differ from the local loop'
        assert 0 < sink_frames_shared(cluster) < final['frames_total']
        assert cluster.health_code() == 200
        with open(os.path.join(cluster.dir, 'up.log')) as f:
            log = f.read()
        assert 'names shared memory it may not use' in log, log[-3000:]


def test_orphans_of_a_killed_ventilator_are_removed():
    with Cluster(workers=0) as cluster:
        (ventilator,) = cluster.role_pids('ventilator')
        code, job = cluster.submit(LONG_SOURCE, 'copy', SLOW)
        assert code == 201, job
        wait_for(lambda: len(objects_of(ventilator)) > 1, 60, 'frames in shared memory')
        cluster.kill_role('ventilator')
        wait_for(lambda: cluster.role_pids('ventilator') not in ([], [ventilator]), 30,
                 'a new ventilator')
        (successor,) = cluster.role_pids('ventilator')
        wait_for(lambda: objects_of(successor), 30, 'the new ventilator\'s probe')
        assert objects_of(ventilator) == [], 'the killed ventilator\'s objects are still there'
        final = cluster.wait_job(job['id'], 60)
        assert final['state'] == 'failed' and 'ventilator' in final['error'], final
        final, out = run_copy(cluster, 'after.mp4')
        assert frame_hashes(out) == REFERENCE and final['shared_memory'] is True, final


main([test_copy_goes_by_shared_memory, test_workers_read_frames_by_shared_memory,
      test_no_shared_memory_goes_over_tcp, test_buffers_removed_midway_lose_nothing,
      test_small_dev_shm_sends_the_rest_over_tcp, test_lies_about_shared_memory_are_refused,
      test_orphans_of_a_killed_ventilator_are_removed])
