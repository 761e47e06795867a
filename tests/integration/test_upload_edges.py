"""Uploads at the edges: pictures beyond the decoder's pixel limit are refused with their size
before a frame is allocated, tiny pictures work, absurd frame rates, durations and frame counts
are refused with the limit they break, an upload with too little free disk is refused with 507
and leaves nothing, an upload cut off by its client leaves nothing, and the cluster then still
processes a good job."""
import http.client
import os
import shutil
import sqlite3
import struct
import subprocess
import zlib

from cluster import (Cluster, check_same_timing, generate, job_directories, main, multipart,
                     peak_memory_kib, probe, reset_peak_memory, start_partial_upload, wait_for,
                     wait_partial_upload, workdir)

WORK = workdir('framepipe-edges-')
GOOD = generate(os.path.join(WORK, 'good.mp4'), 'testsrc2=size=160x120:rate=10', seconds=1)
X264 = ('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p')
# The ventilator's limits (media::Limits).
MAX_PIXELS = 8192 * 8192


def flat_jpeg(width, height):
    """A baseline JPEG of one flat mid-grey 4:2:0 picture, written directly in a few
    milliseconds whatever its size: every 8x8 block is "DC unchanged, end of block", 4 bits with
    the two one-code Huffman tables below, so the entropy-coded data is all zero bytes."""
    def segment(marker, payload):
        return struct.pack('>BBH', 0xFF, marker, len(payload) + 2) + payload
    quantization = segment(0xDB, bytes([0]) + bytes([1] * 64))
    frame = segment(0xC0, struct.pack('>BHHB', 8, height, width, 3) +
                    bytes([1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0]))
    one_code = bytes([0, 1] + [0] * 14 + [0])  # a single 2-bit code, "00", for symbol 0
    huffman = segment(0xC4, bytes([0x00]) + one_code + bytes([0x10]) + one_code)
    scan = segment(0xDA, bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]))
    blocks = ((width + 15) // 16) * ((height + 15) // 16) * 6
    return b'\xff\xd8' + quantization + frame + huffman + scan + bytes(blocks // 2) + b'\xff\xd9'


def flat_png(width, height):
    """A black 8-bit grey PNG, written directly (its rows compress to almost nothing). While
    probing, libavformat decodes a PNG frame to learn its pixel format (a JPEG's header is
    enough), so this one exercises the pixel limit inside the probe."""
    def chunk(kind, data):
        checksum = zlib.crc32(kind + data)
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', checksum)
    compressor = zlib.compressobj(1)
    rows = bytes((width + 1) * 256)
    data = b''.join(compressor.compress(rows) for _ in range(height // 256))
    data += compressor.compress(bytes((width + 1) * (height % 256))) + compressor.flush()
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)) +
            chunk(b'IDAT', data) + chunk(b'IEND', b''))


def mux(pictures, demuxer, path):
    """Puts the pictures, one frame each, in the container of `path`, without decoding them."""
    raw = path + '.' + demuxer
    with open(raw, 'wb') as f:
        f.write(b''.join(pictures))
    subprocess.run(['ffmpeg', '-v', 'error', '-y', '-f', demuxer, '-framerate', '10', '-i', raw,
                    '-c', 'copy', path], check=True)
    return path


def media(name, video, frames, extra=()):
    path = os.path.join(WORK, name)
    subprocess.run(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', video, '-frames:v',
                    str(frames), *X264, *extra, path], check=True)
    return path


HUGE_MJPEG = mux([flat_jpeg(9000, 9000)], 'jpeg_pipe', os.path.join(WORK, 'huge-mjpeg.avi'))
HUGE_PNG = mux([flat_png(9000, 9000)], 'png_pipe', os.path.join(WORK, 'huge-png.mkv'))
# The container says 64x48 (its first frame); the third frame is 9000x9000.
GROWING = mux([flat_jpeg(64, 48)] * 2 + [flat_jpeg(9000, 9000), flat_jpeg(64, 48)], 'jpeg_pipe',
              os.path.join(WORK, 'growing.avi'))
TINY = {size: media(f'tiny-{size}.mkv', f'testsrc2=size={size}:rate=10', 10)
        for size in ('2x2', '16x16')}
# 10 frames at 5000 frames per second.
FAST = media('fast.mp4', 'testsrc2=size=64x48:rate=5000', 10)
# 3 frames three hours apart: 9 hours.
LONG = media('long.mp4', 'testsrc2=size=64x48:rate=1/10800', 3)
# 3 frames at 1000 frames per second, stretched over 2500 s: about 2.5 million frames declared.
MANY = media('many.mkv', 'testsrc2=size=64x48:rate=1000', 3, ('-bsf:v', 'setts=ts=TS*1250000'))


def refused_or_failed(cluster, path, *words):
    """Submits `path`: a 4xx, or a failed job, whose error holds every one of `words`."""
    code, body = cluster.submit(path, 'copy')
    if code // 100 == 4:
        error = body['error']
    else:
        assert code == 201, (code, body)
        final = cluster.wait_job(body['id'], 60)
        assert final['state'] == 'failed', (os.path.basename(path), final)
        error = final['error']
    assert all(word in error for word in words), (os.path.basename(path), error)
    return error


def test_too_little_free_disk_is_refused_with_507_and_leaves_nothing():
    # A reserve larger than the whole free space: every upload is refused.
    reserve_mb = shutil.disk_usage(WORK).free // 2**20 + 1_000_000
    with Cluster(workers=1, extra=['--min-free-disk-mb', str(reserve_mb)]) as cluster:
        code, body = cluster.submit(GOOD, 'copy')
        assert code == 507, (code, body)
        assert 'disk' in body['error'] and 'reserve' in body['error'], body
        with open(GOOD, 'rb') as f:
            payload, content_type = multipart({'filters': 'copy'}, {'file': ('good.mp4', f.read())})
        connection = http.client.HTTPConnection('127.0.0.1', cluster.http_port, timeout=30)
        try:  # chunked: no length to check before the body arrives
            connection.request('POST', '/api/jobs', body=iter([payload]), encode_chunked=True,
                               headers={'Content-Type': content_type})
            response = connection.getresponse()
            assert response.status == 507, (response.status, response.read())
        finally:
            connection.close()
        assert cluster.json('/api/jobs') == (200, []), cluster.json('/api/jobs')
        assert job_directories(cluster) == set(), job_directories(cluster)
        left = set(os.listdir(cluster.data_dir)) - {'jobs', 'framepipe.db', 'framepipe.db-wal',
                                                    'framepipe.db-shm'}
        assert not left, f'left in the data directory: {left}'
        db = sqlite3.connect(f"file:{os.path.join(cluster.data_dir, 'framepipe.db')}?mode=ro",
                             uri=True)
        try:
            assert db.execute('SELECT COUNT(*) FROM jobs').fetchone() == (0,)
        finally:
            db.close()
        assert cluster.health_code() == 200


with Cluster(workers=1) as cluster:
    def test_pictures_beyond_the_pixel_limit_are_refused_before_allocation():
        # One 9000x9000 frame is 121 MB (yuv420p) or 81 MB (grey): the ventilator's peak
        # memory must not grow by anything near that.
        ventilator = cluster.role_pids('ventilator')[0]
        for path in (HUGE_MJPEG, HUGE_PNG):
            assert probe(path)['streams'][0]['width'] == 9000
            reset_peak_memory(ventilator)
            before = peak_memory_kib(ventilator)
            refused_or_failed(cluster, path, '9000x9000', 'exceeds the limit', str(MAX_PIXELS))
            grown = peak_memory_kib(ventilator) - before
            assert grown < 32 * 1024, f'{os.path.basename(path)}: the ventilator grew {grown} KiB'

    def test_a_picture_growing_beyond_the_limit_midway_is_never_allocated():
        ventilator = cluster.role_pids('ventilator')[0]
        reset_peak_memory(ventilator)
        before = peak_memory_kib(ventilator)
        code, job = cluster.submit(GROWING, 'copy')
        assert code == 201, job
        final = cluster.wait_job(job['id'], 60)
        grown = peak_memory_kib(ventilator) - before
        assert grown < 32 * 1024, f'the ventilator grew {grown} KiB'
        # The oversized frame is skipped like a damaged packet (as ffmpeg does), or the job fails
        # naming the size.
        if final['state'] == 'failed':
            assert '9000x9000' in final['error'], final
        else:
            assert final['state'] == 'done' and final['frames_done'] == 3, final
            # ...and the user is told.
            assert final['skipped_packets'] >= 1, final
            assert 'damaged packet' in final['message'], final
            print(f"      done, the user is told: {final['message']}")

    def test_tiny_pictures_are_processed():
        for size, path in TINY.items():
            out = cluster.process(path, 'blur=sigma=2,edges', WORK)
            stream = probe(out)['streams'][0]
            assert f"{stream['width']}x{stream['height']}" == size, (size, stream)
            check_same_timing(path, out)

    def test_absurd_rates_durations_and_frame_counts_are_refused():
        refused_or_failed(cluster, FAST, 'frame rate 5000', 'limit of 1000')
        refused_or_failed(cluster, LONG, '9:00:00 long', 'limit is 6:00:00')
        refused_or_failed(cluster, MANY, 'frames', 'limit is 2000000')

    def job_ids():
        code, listed = cluster.json('/api/jobs')
        assert code == 200, code
        return [job['id'] for job in listed]

    def check_cut_upload_leaves_nothing(chunked):
        before_dirs = job_directories(cluster)
        before_jobs = job_ids()
        upload = start_partial_upload(cluster, 4_000_000, 2_000_000, chunked)
        try:
            partial = wait_partial_upload(cluster, before_dirs)
        finally:
            upload.close()  # the client goes away mid-body
        wait_for(lambda: job_directories(cluster) == before_dirs, 15,
                 f'the cut-off upload {partial} to be removed')
        assert job_ids() == before_jobs, job_ids()
        assert cluster.json(f'/api/jobs/{partial}')[0] == 404

    def test_an_upload_cut_off_by_its_client_leaves_nothing():
        check_cut_upload_leaves_nothing(chunked=False)
        check_cut_upload_leaves_nothing(chunked=True)

    def test_still_serving_a_good_job():
        out = cluster.process(GOOD, 'grayscale', WORK)
        check_same_timing(GOOD, out)

    main([test_pictures_beyond_the_pixel_limit_are_refused_before_allocation,
          test_a_picture_growing_beyond_the_limit_midway_is_never_allocated,
          test_tiny_pictures_are_processed,
          test_absurd_rates_durations_and_frame_counts_are_refused,
          test_an_upload_cut_off_by_its_client_leaves_nothing,
          test_too_little_free_disk_is_refused_with_507_and_leaves_nothing,
          test_still_serving_a_good_job])
