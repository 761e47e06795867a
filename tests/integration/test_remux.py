"""Container changes without re-encoding, through a real cluster with no worker at all: with the
`copy` chain and a video codec the format holds, the head copies the video packet for packet
(ffmpeg's framemd5 of the packets, not of decoded frames) and copies the audio when the format
holds its codec, encoding only what must change (AC-3 into MP4 becomes AAC). The job JSON says the
streams were copied and why; asking for `frames` still re-encodes. A minute of 720p is timed."""
import os
import subprocess
import time

from cluster import Cluster, check_same_timing, generate, main, workdir

WORK = workdir('framepipe-remux-')
CLIP = generate(os.path.join(WORK, 'clip.mp4'), 'testsrc2=size=320x240:rate=25', seconds=3,
                codec=('-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2'))
AC3 = generate(os.path.join(WORK, 'ac3.mkv'), 'testsrc2=size=320x240:rate=25', seconds=3,
               audio_codec=('-c:a', 'ac3'))
MINUTE = generate(os.path.join(WORK, 'minute.mp4'), 'testsrc2=size=1280x720:rate=25', seconds=60,
                  codec=('-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50'))


def packets(path, stream):
    """(size, md5) of each packet of stream 'v' or 'a', as demuxed, nothing decoded."""
    out = subprocess.run(['ffmpeg', '-v', 'error', '-i', path, '-map', f'0:{stream}', '-c', 'copy',
                          '-f', 'framemd5', '-'], capture_output=True, text=True, check=True).stdout
    # stream, dts, pts, duration, size, hash, then side data (left out: MP4 and Matroska say to
    # skip AAC's priming samples each in its own way).
    return [tuple(field.strip() for field in line.split(',')[4:6]) for line in out.splitlines()
            if not line.startswith('#')]


def codec(path, stream):
    return subprocess.run(['ffprobe', '-v', 'error', '-select_streams', stream, '-show_entries',
                           'stream=codec_name', '-of', 'csv=p=0', path], capture_output=True,
                          text=True, check=True).stdout.strip()


def convert(cluster, source, format_name, fields=None):
    """Uploads with `copy`, waits, downloads: (result path, final job JSON, seconds taken)."""
    started = time.monotonic()
    code, job = cluster.submit(source, 'copy', dict(fields or {}, format=format_name))
    assert code == 201, (code, job)
    final = cluster.wait_job(job['id'])
    elapsed = time.monotonic() - started
    assert final['state'] == 'done', final
    return cluster.result(job['id'], os.path.join(WORK, f"{job['id']}.{format_name}")), final, \
        elapsed


with Cluster(workers=0) as cluster:
    def test_mp4_to_mkv_copies_every_packet():
        out, final, _ = convert(cluster, CLIP, 'mkv')
        assert final['distribution']['mode'] == 'copied', final
        assert 'copied, not re-encoded' in final['distribution']['why'], final
        assert packets(out, 'v') == packets(CLIP, 'v'), 'video packets differ'
        assert packets(out, 'a') == packets(CLIP, 'a'), 'audio packets differ'
        assert final['frames_done'] == final['frames_total'] == len(packets(CLIP, 'v')), final
        check_same_timing(CLIP, out)

    def test_ac3_into_mp4_encodes_only_the_audio():
        out, final, _ = convert(cluster, AC3, 'mp4')
        assert final['distribution']['mode'] == 'copied', final
        assert 'the ac3 audio does not: encoded to aac' in final['distribution']['why'], final
        assert packets(out, 'v') == packets(AC3, 'v'), 'video packets differ'
        assert (codec(out, 'v'), codec(out, 'a')) == ('h264', 'aac')
        check_same_timing(AC3, out)

    def test_the_job_says_the_copied_codec():
        mpeg4 = generate(os.path.join(WORK, 'mpeg4.mp4'), seconds=2,
                         codec=('-c:v', 'mpeg4', '-q:v', '5', '-pix_fmt', 'yuv420p'))
        out, final, _ = convert(cluster, mpeg4, 'mkv')
        assert final['distribution']['mode'] == 'copied', final
        assert codec(out, 'v') == 'mpeg4'
        assert final['output_video_codec'] == 'mpeg4', final  # not the format's encoder's h264
        assert final['output_audio_codec'] == 'aac', final

    def test_a_codec_the_format_lacks_is_encoded():
        # With no worker: a copy job of a yuv420p source goes straight to the sink's encoder.
        out, final, _ = convert(cluster, CLIP, 'webm')
        assert final['distribution']['mode'] == 'frames', final
        assert (codec(out, 'v'), codec(out, 'a')) == ('vp9', 'opus')

    def test_a_raw_stream_has_no_times_to_keep_and_is_re_encoded():
        raw = os.path.join(WORK, 'raw.h264')
        subprocess.run(['ffmpeg', '-v', 'error', '-y', '-i', CLIP, '-map', '0:v', '-c', 'copy',
                        '-f', 'h264', raw], check=True)
        out, final, _ = convert(cluster, raw, 'mp4')
        assert final['distribution']['mode'] == 'frames', final
        assert len(packets(out, 'v')) == len(packets(CLIP, 'v'))

    def test_frames_asked_for_re_encodes():
        out, final, _ = convert(cluster, CLIP, 'mkv', {'distribution': 'frames'})
        assert final['distribution']['mode'] == 'frames', final
        assert packets(out, 'v') != packets(CLIP, 'v')
        check_same_timing(CLIP, out)

    def test_a_minute_of_720p_remuxes_in_seconds():
        out, final, elapsed = convert(cluster, MINUTE, 'mkv')
        assert final['distribution']['mode'] == 'copied', final
        assert packets(out, 'v') == packets(MINUTE, 'v'), 'video packets differ'
        started = time.monotonic()
        subprocess.run(['ffmpeg', '-v', 'error', '-y', '-i', MINUTE, '-c', 'copy',
                        os.path.join(WORK, 'ffmpeg.mkv')], check=True)
        ffmpeg_seconds = time.monotonic() - started
        print(f'  1 min of 720p ({os.path.getsize(MINUTE) / 1e6:.1f} MB, '
              f'{final["frames_total"]} frames) mp4 -> mkv: {elapsed:.2f} s upload to done '
              f'(the copy itself {final["frames_total"] / max(final["fps"], 1e-9):.2f} s); '
              f'ffmpeg -c copy: {ffmpeg_seconds:.2f} s')

    main([test_mp4_to_mkv_copies_every_packet, test_ac3_into_mp4_encodes_only_the_audio,
          test_the_job_says_the_copied_codec,
          test_a_codec_the_format_lacks_is_encoded,
          test_a_raw_stream_has_no_times_to_keep_and_is_re_encoded, test_frames_asked_for_re_encodes,
          test_a_minute_of_720p_remuxes_in_seconds])
