/* WPP.profile: the account's own name, About text and photo
 * (wa-js 4.6.0 dist/profile/functions/*.d.ts). */

import { state } from './state.js';
import { asWPPError, asyncApi, http } from './transport.js';

async function update(body) {
  try {
    return await http('POST', '/profile', { auth: true, body });
  } catch (err) {
    throw asWPPError(err);
  }
}

async function mine() {
  return http('GET', '/profile/' + state.me.wid.user, { auth: true });
}

/** wa-js converts the content to a file and resizes it to a 640x640 JPEG (resizeImage):
 * anything the browser cannot decode as an image fails there. */
async function toJpeg(content) {
  const blob = await (await fetch(content)).blob();
  const bitmap = await createImageBitmap(blob);
  const canvas = new OffscreenCanvas(640, 640);
  const scale = Math.max(640 / bitmap.width, 640 / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  canvas.getContext('2d').drawImage(bitmap, (640 - w) / 2, (640 - h) / 2, w, h);
  const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
  const bytes = new Uint8Array(await jpeg.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export const profile = {
  getMyProfileName: () => (state.loggedIn && state.me ? state.me.name : undefined),
  setMyProfileName: asyncApi('profile.setMyProfileName', async (name) => {
    const view = await update({ name });
    state.me.name = view.name;
    return true;
  }),
  getMyStatus: asyncApi('profile.getMyStatus', async () => (await mine()).about || undefined),
  setMyStatus: asyncApi('profile.setMyStatus', async (statusText) => {
    await update({ about: statusText });
    return true;
  }),
  getMyProfilePicture: asyncApi('profile.getMyProfilePicture', async () => {
    const view = await mine();
    const url = view.picture ? location.origin + view.picture : undefined;
    return { id: state.me.wid, eurl: url, imgFull: url, img: url, tag: view.picture ? '1' : undefined };
  }),
  setMyProfilePicture: asyncApi('profile.setMyProfilePicture', async (content) => {
    let picture;
    try {
      picture = await toJpeg(content);
    } catch (err) {
      throw new Error('Invalid image: ' + String(err && err.message ? err.message : err));
    }
    const view = await update({ picture });
    return { eurl: location.origin + view.picture, status: 200, tag: view.picture.split('/').pop(),
      token: '', _duplicate: false };
  }),
  removeMyProfilePicture: asyncApi('profile.removeMyProfilePicture', async () => {
    await update({ picture: '' });
    return true;
  }),
};
