/** Public API of the OpenMRS simulator. */
export { OpenmrsSim, type OpenmrsSimOptions, type RequestLog, type SimStats } from "./server";
export {
  compareSnapshots,
  snapshotOf,
  MAX_DIFFERENCES,
  type Comparable,
  type CmpPatient,
  type CmpVisit,
  type CmpEncounter,
  type CmpObs,
  type CmpName,
  type CmpIdentifier,
  type CmpAddress,
  type CmpObsValue,
  type CmpRecord,
} from "./compare";
export { defaultFaults, clearFaults, mergeFaults, REQUEST_KINDS, type Faults, type StatusFault, type RequestKind } from "./faults";
export type { GenerateOptions } from "./generator";
export {
  Store,
  SimError,
  type Dialect,
  type EventAction,
  type FeedCategory,
  type FeedEvent,
  type Patient,
  type Visit,
  type Encounter,
  type Obs,
  type RecordType,
} from "./model";
export { toFhir, fromFhir } from "./fhir2";
export { restRep } from "./rest";
export { ENTRY_ID_PREFIX } from "./feed";
export { SIM_TYPES, simType, type SimType } from "./types/registry";
export type { Condition, ConditionDraft, ConditionPatch, ClinicalStatus, VerificationStatus } from "./types/condition";
export type { Relationship, RelationshipDraft, RelationshipPatch } from "./types/relationship";
export type { Person, PersonDraft } from "./types/person";
export * as metadata from "./metadata";
