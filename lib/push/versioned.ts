/**
 * Records that OpenMRS REST v1 cannot edit in place. openmrs-core saves an edit of a condition as a new
 * condition under a new uuid and voids the original ("Condition replaced by <uuid>"):
 * ConditionServiceImpl.saveCondition, for any save of a live condition in 2.6, for a changed one from 2.7
 * (openmrs-core commits 404598fcf1, 5e76bc9e5b). Posting an edit there would fork the record: the target
 * would hold the change under a uuid the source does not know, and push it back as a new condition.
 * fhir2 updates conditions in place (BaseFhirDao.createOrUpdate saves the entity itself), so a target with
 * fhir2 takes the edit; a REST-only target gets it only when its copy already says the same.
 */
import type { RestKind } from "../fhir/convert";
import { normalise } from "../sync/reconcile";

export const VERSIONED_ON_REST: ReadonlySet<RestKind> = new Set<RestKind>(["condition"]);

/**
 * Records that cannot be edited at all: orders (OrderServiceImpl.saveOrder refuses an existing order,
 * "Order.cannot.edit.existing", and webservices.rest's order resource has no updatable properties). A
 * target's copy that says the same is left alone; a different one is refused, never silently dropped.
 * What happens to an order (revised, discontinued) comes as a new order naming it.
 */
export const IMMUTABLE_ON_REST: ReadonlySet<RestKind> = new Set<RestKind>(["order"]);

/** Whether two REST v1 bodies of one record say the same (uuid aside; date-times as instants). */
export function sameRestContent(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const { uuid: _a, ...ra } = a;
  const { uuid: _b, ...rb } = b;
  void _a;
  void _b;
  return JSON.stringify(normalise(ra)) === JSON.stringify(normalise(rb));
}
