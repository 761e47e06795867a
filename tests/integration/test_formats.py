"""Output formats end to end: a generated clip (testsrc + sine, H.264 + AAC in MP4) converted to
each of the ten formats through a real cluster. ffprobe checks the container and codecs, frame
count and timestamps of the video formats, duration and sample rate of the audio formats; the
result is served with its MIME type, a download name with its extension, and Range support. Wrong
requests are refused at upload with a 400 naming the valid choices, and leave no job behind."""
import json
import os
import subprocess

from cluster import Cluster, check_same_timing, duration, generate, main, probe_frames, workdir

WORK = workdir('framepipe-formats-')
CLIP = generate(os.path.join(WORK, 'clip.mp4'), 'testsrc=size=320x240:rate=25', seconds=2)
SILENT = generate(os.path.join(WORK, 'silent.mp4'), 'testsrc=size=320x240:rate=25', seconds=1,
                  audio=None)

# format: (ffprobe's format_name, video codec, audio codec, MIME type). The source's AAC is kept
# where the container holds it as it is; AVI gets MP3 and WebM Opus.
VIDEO = {
    'mp4': ('mov,mp4,m4a,3gp,3g2,mj2', 'h264', 'aac', 'video/mp4'),
    'mkv': ('matroska,webm', 'h264', 'aac', 'video/x-matroska'),
    'webm': ('matroska,webm', 'vp9', 'opus', 'video/webm'),
    'mov': ('mov,mp4,m4a,3gp,3g2,mj2', 'h264', 'aac', 'video/quicktime'),
    'avi': ('avi', 'h264', 'mp3', 'video/x-msvideo'),
}
# format: (format_name, codec, MIME type, sample rate).
AUDIO = {
    'mp3': ('mp3', 'mp3', 'audio/mpeg', 44100),
    'flac': ('flac', 'flac', 'audio/flac', 44100),
    'wav': ('wav', 'pcm_s16le', 'audio/wav', 44100),
    'aac': ('aac', 'aac', 'audio/aac', 44100),
    'ogg': ('ogg', 'vorbis', 'audio/ogg', 44100),
}


def ffprobe(path, *arguments):
    out = subprocess.run(['ffprobe', '-v', 'error', *arguments, '-of', 'json', path],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def streams_and_format(path):
    info = ffprobe(path, '-show_entries',
                   'format=format_name,duration:format_tags=major_brand:'
                   'stream=codec_type,codec_name,sample_rate')
    return info['streams'], info['format']


def audio_seconds(path):
    """The audio track's length from its packets: last end minus first start."""
    packets = ffprobe(path, '-select_streams', 'a:0', '-show_entries',
                      'packet=pts_time,duration_time')['packets']
    starts = [float(p['pts_time']) for p in packets if p.get('pts_time', 'N/A') != 'N/A']
    ends = [float(p['pts_time']) + float(p.get('duration_time', 0)) for p in packets
            if p.get('pts_time', 'N/A') != 'N/A']
    return max(ends) - min(starts)


def convert(cluster, source, format_name, filters='copy'):
    """Uploads with `format`, waits, downloads: (result path, job, response headers)."""
    code, job = cluster.submit(source, filters, {'format': format_name})
    assert code == 201, (format_name, code, job)
    assert job['format'] == format_name, job
    final = cluster.wait_job(job['id'])
    assert final['state'] == 'done', (format_name, final)
    code, data, headers = cluster.request('GET', f"/api/jobs/{job['id']}/result")
    assert code == 200, (format_name, code)
    path = os.path.join(WORK, f"{job['id']}.{format_name}")
    with open(path, 'wb') as f:
        f.write(data)
    return path, final, headers


def check_avi_timing(source, result):
    """Every frame with a time, in order, and the duration. FFmpeg 5.1 reads any AVI's second frame
    one frame late (its own `ffmpeg -i clip.mp4 clip.avi` too), so times are compared from there."""
    ts_in, ts_out = probe_frames(source), probe_frames(result)
    assert len(ts_out) == len(ts_in), f'{len(ts_out)} frames out of {len(ts_in)}'
    worst = max(abs((a - ts_in[1]) - (b - ts_out[1])) for a, b in zip(ts_in[2:], ts_out[2:]))
    assert worst <= 0.001, f'timestamps differ by up to {worst * 1000:.1f} ms'
    assert abs(duration(source) - duration(result)) <= 0.25, (duration(source), duration(result))


def check_served_as(headers, final, mime, extension):
    assert headers['Content-Type'] == mime, (mime, headers)
    assert final['mime_type'] == mime, final
    disposition = headers['Content-Disposition']
    assert disposition.endswith(f'-framepipe.{extension}"'), disposition


with Cluster(workers=1) as cluster:
    def test_the_cluster_lists_the_formats():
        code, info = cluster.json('/api/cluster')
        assert code == 200, info
        assert [f['name'] for f in info['formats']] == list(VIDEO) + list(AUDIO), info
        assert info['default_format'] == 'mp4', info

    def test_every_video_format_keeps_every_frame_and_the_audio():
        for name, (format_name, video, audio, mime) in VIDEO.items():
            path, final, headers = convert(cluster, CLIP, name)
            streams, container = streams_and_format(path)
            codecs = sorted((s['codec_type'], s['codec_name']) for s in streams)
            assert container['format_name'] == format_name, (name, container)
            assert codecs == [('audio', audio), ('video', video)], (name, codecs)
            if name == 'avi':
                check_avi_timing(CLIP, path)
            else:
                check_same_timing(CLIP, path)
            check_served_as(headers, final, mime, name)
            brand = container.get('tags', {}).get('major_brand')
            if name == 'mov':
                assert brand == 'qt  ', (name, container)  # QuickTime, not a renamed MP4
            if name == 'mp4':
                assert brand != 'qt  ', (name, container)

    def test_a_filtered_webm():
        path, final, headers = convert(cluster, CLIP, 'webm', 'grayscale')
        streams, _ = streams_and_format(path)
        assert sorted(s['codec_name'] for s in streams) == ['opus', 'vp9'], streams
        check_same_timing(CLIP, path)

    def test_every_audio_format_is_the_sound_track_alone():
        expected_seconds = audio_seconds(CLIP)
        for name, (format_name, codec, mime, rate) in AUDIO.items():
            path, final, headers = convert(cluster, CLIP, name)
            streams, container = streams_and_format(path)
            assert container['format_name'] == format_name, (name, container)
            assert [(s['codec_type'], s['codec_name']) for s in streams] == [('audio', codec)], \
                (name, streams)
            assert int(streams[0]['sample_rate']) == rate, (name, streams)
            seconds = audio_seconds(path)
            assert abs(seconds - expected_seconds) <= 0.1, (name, seconds, expected_seconds)
            check_served_as(headers, final, mime, name)

    def test_a_byte_range_of_an_audio_result():
        code, job = cluster.submit(CLIP, 'copy', {'format': 'flac'})
        assert code == 201, job
        assert cluster.wait_job(job['id'])['state'] == 'done'
        code, body, headers = cluster.request('GET', f"/api/jobs/{job['id']}/result", None,
                                              {'Range': 'bytes=0-3'})
        assert code == 206 and body == b'fLaC', (code, body)
        assert headers['Content-Type'] == 'audio/flac', headers

    def test_a_file_without_audio_makes_video_formats():
        path, _, _ = convert(cluster, SILENT, 'mkv')
        streams, _ = streams_and_format(path)
        assert [s['codec_type'] for s in streams] == ['video'], streams

    def test_impossible_requests_are_refused_at_upload():
        _, before = cluster.json('/api/jobs')
        cases = [
            (CLIP, 'copy', 'mpeg2', ('unknown format', 'webm', 'mp3', 'ogg')),
            (CLIP, 'grayscale', 'mp3', ('audio only', '"copy"', 'mp4')),
            (CLIP, 'blur=sigma=2', 'flac', ('audio only', 'webm')),
            (SILENT, 'copy', 'mp3', ('no audio track', 'mp4')),
            (SILENT, 'copy', 'wav', ('no audio track', 'mkv')),
        ]
        for source, filters, format_name, words in cases:
            code, body = cluster.submit(source, filters, {'format': format_name})
            assert code == 400, (format_name, filters, code, body)
            for word in words:
                assert word in body['error'], (format_name, word, body)
        _, after = cluster.json('/api/jobs')
        assert len(after) == len(before), 'a refused upload left a job behind'

    main([test_the_cluster_lists_the_formats,
          test_every_video_format_keeps_every_frame_and_the_audio, test_a_filtered_webm,
          test_every_audio_format_is_the_sound_track_alone, test_a_byte_range_of_an_audio_result,
          test_a_file_without_audio_makes_video_formats,
          test_impossible_requests_are_refused_at_upload])
