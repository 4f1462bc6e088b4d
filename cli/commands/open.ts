import { FileDevice } from '../../storage/device.js';
import { Volume } from '../../storage/volume.js';
import { checkVolumePath } from '../filesystem.js';
import { wallClock } from '../wall-clock.js';

/** Mount a volume file read-only (recovery in memory, nothing written): for show, show-undo, ls. */
export function openReadOnly(path: string): Volume {
  checkVolumePath(path);
  const device = FileDevice.open(path, { readOnly: true });
  try {
    return Volume.mount(device, { clock: wallClock, readOnly: true });
  } catch (error) {
    device.close();
    throw error;
  }
}
