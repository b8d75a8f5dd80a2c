/* WPP.util. */

import { WPPError } from './errors.js';
import { Wid, createWid } from './ids.js';

export function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export const util = {
  createWid,
  WPPError,
  blobToBase64,
  isWid: (x) => x instanceof Wid,
};
