/**
 * Image references as the providers that deploy any image read them (src/providers/image-reference.ts):
 * the distribution grammar's registry, path, tag and digest, and which release names are images to
 * deploy (pinned by a tag or digest) rather than words that matched no release.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPinnedImage, namesImage, parseImageReference } from '../src/providers/image-reference.ts';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('image references', () => {
  test('registry, repository, tag and digest are read as the distribution grammar reads them', () => {
    assert.deepEqual(parseImageReference('registry.fly.io/clinic-app:deployment-01JA4XK2'), { name: 'registry.fly.io/clinic-app', tag: 'deployment-01JA4XK2' });
    assert.deepEqual(parseImageReference(`ghcr.io/x/y@${DIGEST}`), { name: 'ghcr.io/x/y', digest: DIGEST });
    assert.deepEqual(parseImageReference(`localhost:5000/app:v1@${DIGEST}`), { name: 'localhost:5000/app', tag: 'v1', digest: DIGEST });
    assert.deepEqual(parseImageReference('localhost:5000/app'), { name: 'localhost:5000/app' }, 'a colon before the last slash is a port');
    assert.deepEqual(parseImageReference('nginx:1.25'), { name: 'nginx', tag: '1.25' });
    assert.deepEqual(parseImageReference('my_org/web__api:1'), { name: 'my_org/web__api', tag: '1' });
  });

  test('what is not a reference: spaces, uppercase repositories, bad tags and digests, a digest alone', () => {
    for (const text of ['revision 3', 'HEAD~1', 'Registry/App:v1', 'app:', 'app:-x', `app@sha256:${'a'.repeat(63)}`, 'app@md5', DIGEST, '', '/app:1', 'app//x:1', 'a:b:c']) {
      assert.equal(parseImageReference(text), null, text);
    }
    assert.deepEqual(parseImageReference('Registry.example:443/app:1'), { name: 'Registry.example:443/app', tag: '1' }, 'a registry host may have capitals');
  });

  test('only a reference with a tag or digest is an image to deploy; a bare word is not', () => {
    for (const text of ['registry.fly.io/app:v41', `ghcr.io/x/y@${DIGEST}`, 'app:1']) assert.equal(isPinnedImage(text), true, text);
    for (const text of ['v41', '3', 'stable', 'registry.fly.io/app', DIGEST, 'revision-3']) assert.equal(isPinnedImage(text), false, text);
  });

  test('an image is named by itself, or by the sha256 digest it is pinned to', () => {
    const pinned = `ghcr.io/x/y@${DIGEST}`;
    assert.equal(namesImage(pinned, pinned), true);
    assert.equal(namesImage(DIGEST, pinned), true);
    assert.equal(namesImage(DIGEST, 'ghcr.io/x/y:1'), false);
    assert.equal(namesImage(DIGEST.slice(0, 20), pinned), false, 'a prefix is not enough');
  });
});
