import type { RankedClass } from '../runtime/postprocess.js';

/**
 * The answer clients parse. The key names, including the misspelled `predetection`
 * and `propability`, are a contract with existing clients and must not change.
 */
export interface CascadeAnswer {
  /** Label of the basic model's most likely category. */
  category: string;
  /** Second-model diseases, most likely first; empty when the category has no second model. */
  predetection: { diseases: string; probability: number }[];
  /** The basic model's probability of `category`. */
  propability: number;
  /**
   * Id of the second model that produced `predetection`, or null when the category has
   * no second model configured (then `predetection` is empty on purpose).
   */
  secondModel: string | null;
}

export function buildAnswer(category: RankedClass, diseases: RankedClass[] | null, secondModelId: string | null): CascadeAnswer {
  return {
    category: category.label,
    predetection: (diseases ?? []).map((disease) => ({ diseases: disease.label, probability: disease.probability })),
    propability: category.probability,
    secondModel: secondModelId,
  };
}
