"""Accounts over the real HTTP API (`framepipe up --auth accounts`): sign-up and its rules, login,
logout, sessions and personal tokens, isolation between two users on every route, the admin's
view, share links (download limits, expiry, revocation, the player page and the 410 page), login
throttling, the per-user quota, cross-site requests, a user disabled and deleted with their
files, and hostile input at the auth endpoints.

Three users: `root` signs up first and is the admin; `alice` and `bob` are ordinary users. The
harness itself uses the server's --api-token (an admin's token).
"""
import http.client
import json
import os
import socket
import threading
import time

import subprocess

from cluster import FRAMEPIPE, Cluster, generate, main, multipart, wait_for, workdir

WORK = workdir('framepipe-accounts-')
CLIP = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=160x120:rate=10', seconds=1)
ADMIN_TOKEN = 'harness-admin-token-0123456789'
QUOTA_MB = 4


class Client:
    """One user agent: a bearer token or a session cookie, from one source address."""

    def __init__(self, cluster, token=None, cookie=None, source='127.0.0.1'):
        self.cluster = cluster
        self.token = token
        self.cookie = cookie
        self.source = source

    def call(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection('127.0.0.1', self.cluster.http_port, timeout=60,
                                                source_address=(self.source, 0))
        sent = dict(headers or {})
        if self.token:
            sent.setdefault('Authorization', f'Bearer {self.token}')
        if self.cookie:
            sent.setdefault('Cookie', self.cookie)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            sent.setdefault('Content-Type', 'application/json')
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), data
        finally:
            connection.close()

    def json(self, method, path, body=None, headers=None):
        status, _, data = self.call(method, path, body, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data

    def upload(self, path=CLIP, filters='grayscale'):
        with open(path, 'rb') as f:
            body, content_type = multipart({'filters': filters}, {'file': ('in.mp4', f.read())})
        return self.json('POST', '/api/jobs', body, {'Content-Type': content_type})

    def wait_done(self, job_id):
        state = {}

        def done():
            nonlocal state
            _, state = self.json('GET', f'/api/jobs/{job_id}')
            return state.get('state') in ('done', 'failed', 'canceled')

        wait_for(done, 120, f'job {job_id}')
        assert state['state'] == 'done', state
        return state


def sign_up(cluster, name, password):
    return Client(cluster).json('POST', '/api/auth/signup',
                                {'username': name, 'password': password})


def log_in(cluster, name, password, source='127.0.0.1'):
    """(status, body, client with the session token)."""
    status, body = Client(cluster, source=source).json(
        'POST', '/api/auth/login', {'username': name, 'password': password})
    token = body.get('token') if isinstance(body, dict) else None
    return status, body, Client(cluster, token=token, source=source)


def live_events(client, seconds):
    """What GET /api/events sends `client` in `seconds`."""
    s = socket.create_connection(('127.0.0.1', client.cluster.http_port), timeout=seconds + 5)
    s.sendall(f'GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {client.token}'
              f'\r\n\r\n'.encode())
    got = b''
    end = time.time() + seconds
    s.settimeout(0.5)
    while time.time() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    s.close()
    return got.decode(errors='replace')


with Cluster(workers=1, api_token=ADMIN_TOKEN, auth='accounts',
             extra=['--quota-mb', str(QUOTA_MB), '--share-max-ttl', '1h']) as cluster:
    state = {}

    def test_sign_up_rules():
        status, me = Client(cluster).json('GET', '/api/auth/me')
        assert status == 401 and me['auth'] == 'accounts' and me['signup_open'] is True, me
        status, root = sign_up(cluster, 'root', 'root-password-1')
        assert status == 201 and root['admin'] is True, (status, root)
        status, alice = sign_up(cluster, 'alice', 'alice-password-1')
        assert status == 201 and alice['admin'] is False, (status, alice)
        status, bob = sign_up(cluster, 'bob', 'bob-password-1')
        assert status == 201, bob
        state['bob_id'] = bob['id']
        status, taken = sign_up(cluster, 'ALICE', 'another-password')
        assert status == 409, (status, taken)
        for name, password, words in [('', 'long-enough-1', '1-64'), ('x' * 65, 'long-enough-1', '64'),
                                      ('a/b', 'long-enough-1', '/'), ('carol', 'short', '10'),
                                      ('carol', 'p' * 2000, '1024')]:
            status, refusal = sign_up(cluster, name, password)
            assert status == 400 and words in refusal['error'], (name[:10], status, refusal)

    def test_login_me_and_logout():
        status, body, alice = log_in(cluster, 'alice', 'alice-password-1')
        assert status == 200 and body['token'] and body['expires_at'], body
        status, headers, _ = Client(cluster).call(
            'POST', '/api/auth/login', json.dumps({'username': 'alice',
                                                   'password': 'alice-password-1'}).encode())
        cookie = headers.get('Set-Cookie', '')
        assert 'framepipe_session=' in cookie and 'HttpOnly' in cookie and \
               'SameSite=Strict' in cookie, cookie
        by_cookie = Client(cluster, cookie=cookie.split(';')[0])
        assert by_cookie.json('GET', '/api/auth/me')[1]['user']['username'] == 'alice'
        assert alice.json('GET', '/api/auth/me')[1]['user']['username'] == 'alice'
        status, _ = Client(cluster).json('POST', '/api/auth/login',
                                         {'username': 'alice', 'password': 'wrong-password'})
        assert status == 401
        # Logout ends that session only.
        _, _, other = log_in(cluster, 'alice', 'alice-password-1')
        assert other.json('POST', '/api/auth/logout')[0] == 200
        assert other.json('GET', '/api/jobs')[0] == 401, 'a logged-out token still works'
        assert alice.json('GET', '/api/jobs')[0] == 200
        state['alice'] = alice
        state['alice_cookie'] = by_cookie
        state['bob'] = log_in(cluster, 'bob', 'bob-password-1')[2]
        state['root'] = log_in(cluster, 'root', 'root-password-1')[2]

    def test_every_route_needs_a_user():
        anonymous = Client(cluster)
        for method, path in [('GET', '/api/jobs'), ('GET', '/api/filters'), ('GET', '/api/cluster'),
                             ('GET', '/api/events'), ('GET', '/api/shares'),
                             ('GET', '/api/auth/tokens'), ('POST', '/api/auth/logout')]:
            assert anonymous.call(method, path)[0] == 401, (method, path)
        assert anonymous.call('GET', '/health')[0] == 200
        assert anonymous.call('GET', '/metrics')[0] == 200

    def test_a_user_sees_only_their_jobs():
        alice, bob, root = state['alice'], state['bob'], state['root']
        # Live streams open while the job runs: each user's own jobs only.
        streams = {}
        watchers = [threading.Thread(target=lambda who, c: streams.__setitem__(who, live_events(c, 4)),
                                     args=(who, client)) for who, client in (('alice', alice), ('bob', bob))]
        for watcher in watchers:
            watcher.start()
        time.sleep(0.5)
        status, job = alice.upload()
        assert status == 201, job
        job_id = job['id']
        for watcher in watchers:
            watcher.join()
        assert job_id in streams['alice'], streams['alice'][:300]
        assert job_id not in streams['bob'] and 'event: workers' in streams['bob'], streams['bob'][:300]
        assert '"host"' not in streams['bob'], 'a user who is no admin saw the workers'
        state['alice_job'] = job_id
        alice.wait_done(job_id)
        for method, path in [('GET', f'/api/jobs/{job_id}'), ('GET', f'/api/jobs/{job_id}/result'),
                             ('GET', f'/api/jobs/{job_id}/events'),
                             ('DELETE', f'/api/jobs/{job_id}')]:
            status, _, body = bob.call(method, path)
            assert status == 404 and b'no such job' in body, (method, path, status, body)
        status, refusal = bob.json('POST', f'/api/jobs/{job_id}/shares', {'ttl_seconds': 60})
        assert status == 404, (status, refusal)
        # The same answer as for a job that never existed: no oracle.
        never = bob.call('GET', '/api/jobs/' + 'f' * 32)[2]
        assert never == bob.call('GET', f'/api/jobs/{job_id}')[2], never
        assert bob.json('GET', '/api/jobs')[1] == [], bob.json('GET', '/api/jobs')
        listed = [j['id'] for j in alice.json('GET', '/api/jobs')[1]]
        assert listed == [job_id], listed
        assert job_id in [j['id'] for j in root.json('GET', '/api/jobs')[1]], 'the admin sees all'
        assert alice.call('GET', f'/api/jobs/{job_id}/result')[0] == 200
        # The library's poster, made by the head once the job is done.
        wait_for(lambda: alice.call('GET', f'/api/jobs/{job_id}/poster')[0] == 200, 20, 'a poster')
        status, headers, jpeg = alice.call('GET', f'/api/jobs/{job_id}/poster')
        assert headers['Content-Type'] == 'image/jpeg' and jpeg.startswith(b'\xff\xd8'), headers
        assert bob.call('GET', f'/api/jobs/{job_id}/poster')[0] == 404
        # A job finished before the head made posters has none: the first ask has it made.
        os.remove(os.path.join(cluster.data_dir, 'jobs', job_id, 'poster.jpg'))
        status, headers, _ = alice.call('GET', f'/api/jobs/{job_id}/poster')
        assert status == 404 and headers.get('Retry-After') == '1', (status, headers)
        wait_for(lambda: alice.call('GET', f'/api/jobs/{job_id}/poster')[0] == 200, 20,
                 'the poster asked for')
        # The admin's routes.
        assert bob.call('GET', '/api/workers')[0] == 403
        assert bob.call('GET', '/api/users')[0] == 403
        users = root.json('GET', '/api/users')[1]
        assert {u['username'] for u in users} == {'root', 'alice', 'bob'}, users
        alice_row = next(u for u in users if u['username'] == 'alice')
        assert alice_row['used_bytes'] > 0 and alice_row['quota_bytes'] == QUOTA_MB << 20, alice_row

    def test_personal_tokens():
        alice, bob = state['alice'], state['bob']
        status, made = alice.json('POST', '/api/auth/tokens', {'label': 'ci script'})
        assert status == 201 and made['token'], made
        script = Client(cluster, token=made['token'])
        assert script.json('GET', '/api/jobs')[1][0]['id'] == state['alice_job']
        listed = alice.json('GET', '/api/auth/tokens')[1]
        assert [t['label'] for t in listed] == ['ci script'], listed
        assert made['token'] not in json.dumps(listed), 'a token listed in clear'
        assert bob.call('DELETE', f'/api/auth/tokens/{made["id"]}')[0] == 404
        assert alice.call('DELETE', f'/api/auth/tokens/{made["id"]}')[0] == 204
        assert script.call('GET', '/api/jobs')[0] == 401, 'a revoked token still works'

    def test_share_links():
        alice, job_id = state['alice'], state['alice_job']
        status, share = alice.json('POST', f'/api/jobs/{job_id}/shares',
                                   {'ttl_seconds': 600, 'max_downloads': 2})
        assert status == 201 and share['url'].startswith('/s/'), share
        token = share['url'][3:]
        assert len(token) >= 22, 'under 128 bits'
        stranger = Client(cluster, source='127.0.0.2')
        status, headers, page = stranger.call('GET', share['url'], headers={'Accept': 'text/html'})
        assert status == 200 and b'<video id="player"' in page and b'id="download"' in page, \
            (status, page[:100])
        status, headers, data = stranger.call('GET', share['url'])
        assert status == 200 and headers['Content-Type'] == 'video/mp4' and len(data) > 1000
        # A player going on from where it is: not counted.
        status, _, part = stranger.call('GET', share['url'] + '?raw=1', headers={'Range': 'bytes=100-199'})
        assert status == 206 and len(part) == 100
        assert stranger.call('GET', share['url'])[0] == 200  # the second download
        assert stranger.call('GET', share['url'])[0] == 410, 'a third download of two'
        status, _, gone = stranger.call('GET', share['url'], headers={'Accept': 'text/html'})
        assert status == 410 and b'id="gone"' in gone, gone
        listed = {s['id']: s for s in alice.json('GET', '/api/shares')[1]}
        assert listed[share['id']]['downloads'] == 2 and listed[share['id']]['state'] == 'used_up'

        status, short = alice.json('POST', f'/api/jobs/{job_id}/shares', {'ttl_seconds': 1})
        assert status == 201
        status, revoked = alice.json('POST', f'/api/jobs/{job_id}/shares', {'ttl_seconds': 600})
        assert state['bob'].call('DELETE', f'/api/shares/{revoked["id"]}')[0] == 404
        assert alice.call('DELETE', f'/api/shares/{revoked["id"]}')[0] == 204
        assert stranger.call('GET', revoked['url'])[0] == 410
        time.sleep(1.2)
        assert stranger.call('GET', short['url'])[0] == 410, 'an expired link still works'
        assert stranger.call('GET', '/s/' + 'A' * 43)[0] == 404
        status, refusal = alice.json('POST', f'/api/jobs/{job_id}/shares', {'ttl_seconds': 7200})
        assert status == 400 and '3600' in refusal['error'], refusal

    def test_login_throttling():
        for _ in range(5):  # the free failures of one name from one address
            status, _, _ = log_in(cluster, 'bob', 'wrong-password')
            assert status == 401
        status, _, _ = log_in(cluster, 'bob', 'wrong-password')
        assert status == 401  # the sixth is checked, and delays the next
        connection = Client(cluster)
        status, headers, body = connection.call(
            'POST', '/api/auth/login', json.dumps({'username': 'bob',
                                                   'password': 'bob-password-1'}).encode())
        assert status == 429 and int(headers['Retry-After']) >= 1, (status, headers, body)
        # The owner, from another address, is not locked out.
        status, _, _ = log_in(cluster, 'bob', 'bob-password-1', source='127.0.0.3')
        assert status == 200

    def test_cross_site_requests_with_the_cookie_are_refused():
        by_cookie = state['alice_cookie']
        host = f'127.0.0.1:{cluster.http_port}'
        status, body = by_cookie.json('POST', '/api/auth/tokens', {'label': 'x'},
                                      {'Origin': 'https://evil.example'})
        assert status == 403 and 'cross-site' in body['error'], body
        status, _ = by_cookie.json('POST', '/api/auth/tokens', {'label': 'x'})  # no Origin
        assert status == 403
        status, made = by_cookie.json('POST', '/api/auth/tokens', {'label': 'page'},
                                      {'Origin': f'http://{host}'})
        assert status == 201, made
        # Reading with the cookie needs no Origin.
        assert by_cookie.call('GET', '/api/jobs')[0] == 200

    def test_changing_a_password():
        alice, root = state['alice'], state['root']
        alice_id = alice.json('GET', '/api/auth/me')[1]['user']['id']
        _, _, elsewhere = log_in(cluster, 'alice', 'alice-password-1', source='127.0.0.6')
        status, made = alice.json('POST', '/api/auth/tokens', {'label': 'script'})
        assert status == 201, made
        script = Client(cluster, token=made['token'])

        def change(current, new, client=alice):
            return client.json('POST', '/api/auth/password',
                               {'current_password': current, 'new_password': new})

        status, body = change('wrong-password', 'alice-password-2')
        assert status == 403 and 'current password' in body['error'], (status, body)
        status, body = change('alice-password-1', 'short')
        assert status == 400 and '10' in body['error'], (status, body)
        assert alice.json('POST', '/api/auth/password', {'new_password': 'alice-password-2'})[0] \
            == 400
        status, body = change('alice-password-1', 'alice-password-2')
        assert status == 200 and body['sessions_ended'] >= 2, body  # elsewhere, the cookie's
        assert alice.call('GET', '/api/jobs')[0] == 200, 'the session that changed it ended'
        assert elsewhere.call('GET', '/api/jobs')[0] == 401, 'another session outlived the change'
        assert state['alice_cookie'].call('GET', '/api/jobs')[0] == 401
        assert script.call('GET', '/api/jobs')[0] == 200, 'a personal token should stay'
        assert log_in(cluster, 'alice', 'alice-password-1', source='127.0.0.6')[0] == 401
        assert log_in(cluster, 'alice', 'alice-password-2', source='127.0.0.6')[0] == 200
        # Guessing the current password with a stolen session is throttled as logins are.
        for _ in range(6):
            assert change('guess-password', 'stolen-password')[0] == 403
        status, headers, _ = alice.call(
            'POST', '/api/auth/password',
            json.dumps({'current_password': 'alice-password-2', 'new_password': 'x' * 12}).encode(),
            {'Content-Type': 'application/json'})
        assert status == 429 and int(headers['Retry-After']) >= 1, (status, headers)
        # An admin sets one: every session of the user ends; the user signs in with the new one.
        status, _ = root.json('PATCH', f'/api/users/{alice_id}', {'password': 'set-by-an-admin'})
        assert status == 200
        assert alice.call('GET', '/api/jobs')[0] == 401
        assert root.json('PATCH', f'/api/users/{alice_id}', {'password': 'short'})[0] == 400
        # So does the command line on the head's machine (a forgotten admin password).
        done = subprocess.run([FRAMEPIPE, 'user', 'passwd', 'alice', '--data-dir', cluster.data_dir],
                              input='from-the-command-line\n', capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0 and 'password of alice set' in done.stdout, \
            (done.stdout, done.stderr)
        missing = subprocess.run([FRAMEPIPE, 'user', 'passwd', 'nobody', '--data-dir',
                                  cluster.data_dir], input='long-enough-password\n',
                                 capture_output=True, text=True, timeout=30)
        assert missing.returncode != 0 and 'no user named nobody' in missing.stdout + missing.stderr, \
            missing
        assert log_in(cluster, 'alice', 'set-by-an-admin', source='127.0.0.7')[0] == 401
        status, _, alice = log_in(cluster, 'alice', 'from-the-command-line', source='127.0.0.7')
        assert status == 200
        state['alice'] = alice

    def test_quota():
        bob, root = state['bob'], state['root']
        clip_bytes = os.path.getsize(CLIP)
        assert root.json('PATCH', f'/api/users/{state["bob_id"]}', {'quota_mb': 1})[0] == 200
        big = os.path.join(WORK, 'big.mp4')
        with open(big, 'wb') as f:
            f.write(os.urandom(3 << 20))
        status, refusal = bob.upload(big)  # refused at its headers, by its Content-Length
        assert status == 507 and 'quota' in refusal['error'] and '1 MiB' in refusal['error'], \
            (status, refusal)
        assert root.json('PATCH', f'/api/users/{state["bob_id"]}', {'quota_mb': None})[0] == 200
        status, job = bob.upload()
        assert status == 201, job
        bob.wait_done(job['id'])
        me = bob.json('GET', '/api/auth/me')[1]['user']
        assert me['used_bytes'] > 0 and me['quota_bytes'] == QUOTA_MB << 20, me
        state['bob_job'] = job['id']
        assert clip_bytes < QUOTA_MB << 20

    def test_an_admin_makes_another():
        root, alice = state['root'], state['alice']
        alice_id = alice.json('GET', '/api/auth/me')[1]['user']['id']
        root_id = root.json('GET', '/api/auth/me')[1]['user']['id']
        assert alice.call('GET', '/api/users')[0] == 403
        assert alice.json('PATCH', f'/api/users/{alice_id}', {'admin': True})[0] == 403
        # Checked whole: a bad field leaves the good ones before it unapplied.
        status, _ = root.json('PATCH', f'/api/users/{alice_id}', {'admin': True, 'password': 'short'})
        assert status == 400
        assert alice.call('GET', '/api/users')[0] == 403, 'half a refused change was applied'
        status, made = root.json('PATCH', f'/api/users/{alice_id}', {'admin': True})
        assert status == 200 and made['admin'] is True, made
        assert alice.call('GET', '/api/users')[0] == 200, 'her session did not see the change'
        status, refusal = root.json('PATCH', f'/api/users/{root_id}', {'admin': False})
        assert status == 400 and 'own admin rights' in refusal['error'], refusal
        assert root.json('PATCH', f'/api/users/{alice_id}', {'admin': 'yes'})[0] == 400
        status, back = root.json('PATCH', f'/api/users/{alice_id}', {'admin': False})
        assert status == 200 and back['admin'] is False, back
        assert alice.call('GET', '/api/users')[0] == 403

    def test_a_disabled_then_deleted_user_leaves_nothing():
        bob, root = state['bob'], state['root']
        status, share = bob.json('POST', f'/api/jobs/{state["bob_job"]}/shares', {'ttl_seconds': 60})
        assert status == 201
        bob_directory = os.path.join(cluster.data_dir, 'jobs', state['bob_job'])
        assert os.path.isdir(bob_directory)
        assert root.json('PATCH', f'/api/users/{state["bob_id"]}', {'disabled': True})[0] == 200
        assert bob.call('GET', '/api/jobs')[0] == 401, 'a disabled user kept their session'
        status, _, _ = log_in(cluster, 'bob', 'bob-password-1', source='127.0.0.4')
        assert status == 403
        assert Client(cluster).call('GET', share['url'])[0] == 410
        assert root.call('DELETE', f'/api/users/{state["bob_id"]}')[0] == 204
        assert not os.path.exists(bob_directory), 'the deleted user\'s files are still there'
        assert state['bob_job'] not in [j['id'] for j in root.json('GET', '/api/jobs')[1]]
        assert Client(cluster).call('GET', share['url'])[0] == 404
        assert 'bob' not in [u['username'] for u in root.json('GET', '/api/users')[1]]

    def test_hostile_input_at_the_auth_endpoints():
        anonymous = Client(cluster, source='127.0.0.5')
        # Bodies: too large, nested too deep, not an object, not JSON, odd types, odd text.
        status, _, _ = anonymous.call('POST', '/api/auth/login', b'{"username":"' + b'a' * 20000 + b'"}',
                                      {'Content-Type': 'application/json'})
        assert status == 413
        assert anonymous.call('POST', '/api/auth/signup', b'[' * 5000 + b']' * 5000)[0] == 400
        assert anonymous.call('POST', '/api/auth/signup', b'"just a string"')[0] == 400
        assert anonymous.call('POST', '/api/auth/signup', b'{"username": ')[0] == 400
        assert anonymous.json('POST', '/api/auth/signup', {'username': 7, 'password': []})[0] == 400
        for name in ['a\x00b', 'line\nbreak', ' padded', '\u202e' + 'rtl', 'x' * 4000]:
            assert sign_up(cluster, name, 'long-enough-password')[0] == 400, repr(name[:12])
        status, _, _ = anonymous.call('POST', '/api/auth/signup',
                                      b'{"username":"\xff\xfe","password":"long-enough-password"}')
        assert status == 400
        # Header games: other schemes, empty tokens, huge and stolen ones, tokens in the query.
        for authorization in ['Basic YWxpY2U6cGFzcw==', 'Bearer', 'Bearer ' + 'A' * 3000,
                              'Bearer ' + state['alice'].token + 'x', 'bearer  ']:
            assert anonymous.call('GET', '/api/jobs',
                                  headers={'Authorization': authorization})[0] == 401, authorization
        assert anonymous.call('GET', '/api/jobs',
                              headers={'Cookie': 'framepipe_session=' + 'z' * 4000})[0] == 401
        assert anonymous.call('GET', f'/api/jobs?token={state["alice"].token}')[0] == 401, \
            'a token in the query of a route that does not take one'
        # A chunked JSON body is refused (a body of unknown length would be read whole).
        connection = http.client.HTTPConnection('127.0.0.1', cluster.http_port, timeout=10)
        connection.request('POST', '/api/auth/login', body=iter([b'{}']),
                           headers={'Content-Type': 'application/json'}, encode_chunked=True)
        assert connection.getresponse().status == 411
        connection.close()
        # The server still serves everyone.
        assert state['alice'].call('GET', '/api/jobs')[0] == 200

    main([test_sign_up_rules, test_login_me_and_logout, test_every_route_needs_a_user,
          test_a_user_sees_only_their_jobs, test_personal_tokens, test_share_links,
          test_login_throttling, test_cross_site_requests_with_the_cookie_are_refused,
          test_changing_a_password, test_quota, test_an_admin_makes_another,
          test_a_disabled_then_deleted_user_leaves_nothing, test_hostile_input_at_the_auth_endpoints])
