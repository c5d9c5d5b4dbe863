import { resizeImage, type RgbImage } from '../runtime/image.js';
import type { ModelDescriptor } from '../runtime/loaded-model.js';

/**
 * Resizes a decoded image to a model's input size once per size and resize method.
 * The cascade sends one image to a basic model and then to a second model, and the two
 * often share an input size, such as 224x224, so the second model reuses the first
 * resize. Images are WeakMap keys, so the resized copies go with the decoded image.
 */
export class ResizedImages {
  private readonly byImage = new WeakMap<RgbImage, Map<string, Promise<RgbImage>>>();

  /** Returns `image` at the model's input size; the same promise for the same image and size. */
  forModel(image: RgbImage, descriptor: ModelDescriptor): Promise<RgbImage> {
    const { inputWidth, inputHeight, resize } = descriptor;
    if (inputWidth === null || inputHeight === null) return Promise.resolve(image);
    let sizes = this.byImage.get(image);
    if (sizes === undefined) {
      sizes = new Map();
      this.byImage.set(image, sizes);
    }
    const key = `${inputWidth}x${inputHeight} ${resize}`;
    let resized = sizes.get(key);
    if (resized === undefined) {
      resized = resizeImage(image, inputWidth, inputHeight, resize);
      sizes.set(key, resized);
    }
    return resized;
  }
}
