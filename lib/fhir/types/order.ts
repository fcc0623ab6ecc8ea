/**
 * Orders, both directions (docs/fhir-mapping.md "MedicationRequest and ServiceRequest"): REST v1
 * `order/{uuid}?v=full` (webservices.rest OrderResource2_2 with its drugorder / testorder subclass
 * handlers) -> FHIR R4 MedicationRequest (a drug order, as fhir2's MedicationRequestTranslatorImpl and
 * DosageTranslatorImpl serve it) or ServiceRequest (a test order, ServiceRequestTranslatorImpl), and back
 * to the REST v1 create body (`POST order` with `type`).
 *
 * fhir2 leaves out what a REST create needs: the care setting, the order action, the order number, the
 * order frequency (only its concept), the dosing type and the units' concepts. They travel in one
 * extension of this package (ORDER_DETAILS_URL); a record read through fhir2 is completed from REST v1
 * (lib/openmrs/fetch-record.ts), as a patient's attribute uuids are.
 */
import {
  asObject,
  compact,
  dateCreated,
  fhirDateTime,
  metaOf,
  objects,
  reference,
  refDisplay,
  refUuid,
  requireFhirId,
  requireRef,
  requireUuid,
  restDateTime,
  str,
  unconvertible,
  referenceId,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";
import { openmrsToFhirDateTime } from "../dates";

/** What fhir2's order translators leave out, as sub-extensions named by the REST property. */
export const ORDER_DETAILS_URL = "urn:node-red-contrib-openmrs-sync:order-details";

const DETAILS = [
  "action",
  "orderNumber",
  "careSetting",
  "dateActivated",
  "autoExpireDate",
  "instructions",
  "dosingType",
  "frequency",
  "doseUnits",
  "quantityUnits",
  "durationUnits",
  "clinicalHistory",
] as const;

function cc(v: unknown, freeText?: unknown): Json | undefined {
  const uuid = refUuid(v);
  if (!uuid) return undefined;
  const name = refDisplay(v);
  return compact({ coding: [compact({ code: uuid, display: name })], text: str(freeText) ?? name });
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function isActive(rep: Json): boolean {
  if (rep.voided === true || rep.action === "DISCONTINUE" || str(rep.dateStopped)) return false;
  const expires = str(rep.autoExpireDate);
  return !expires || Date.parse(openmrsToFhirDateTime(expires)) > Date.now();
}

function details(rep: Json): Json {
  const values: Record<(typeof DETAILS)[number], string | undefined> = {
    action: str(rep.action),
    orderNumber: str(rep.orderNumber),
    careSetting: refUuid(rep.careSetting),
    dosingType: str(rep.dosingType),
    frequency: refUuid(rep.frequency),
    doseUnits: refUuid(rep.doseUnits),
    quantityUnits: refUuid(rep.quantityUnits),
    durationUnits: refUuid(rep.durationUnits),
    dateActivated: str(rep.dateActivated),
    // A discontinuation expires as it is saved (the target sets it so too).
    autoExpireDate: rep.action === "DISCONTINUE" ? undefined : str(rep.autoExpireDate),
    instructions: rep.type === "testorder" ? str(rep.instructions) : undefined,
    clinicalHistory: str(rep.clinicalHistory),
  };
  const extension = DETAILS.flatMap((k) => (values[k] === undefined ? [] : [{ url: k, valueString: values[k] }]));
  return { url: ORDER_DETAILS_URL, extension };
}

function prior(type: string, rep: Json): Json | undefined {
  const uuid = refUuid(rep.previousOrder);
  return uuid ? { ...reference(type, uuid) } : undefined;
}

function drugOrderToFhir(rep: Json, id: string, patient: string): FhirResource {
  const expired = !isActive(rep) && !str(rep.dateStopped);
  const status = isActive(rep) ? "active" : str(rep.dateStopped) ? "cancelled" : expired ? "stopped" : "unknown";
  const drug = refUuid(rep.drug);
  const created = dateCreated(rep.auditInfo);
  const duration = num(rep.duration);
  const durationUnit = /week/i.test(refDisplay(rep.durationUnits) ?? "") ? "wk" : /day/i.test(refDisplay(rep.durationUnits) ?? "") ? "d" : undefined;
  const repeat = compact({ duration, durationUnit });
  const freq = rep.frequency ? asObject(rep.frequency) : undefined;
  const timing = compact({ code: freq ? cc(freq.concept ?? freq) : undefined, repeat });
  const dose = num(rep.dose);
  const quantity = num(rep.quantity);
  return compact<FhirResource>({
    resourceType: "MedicationRequest",
    id,
    meta: metaOf(rep.auditInfo),
    extension: [details(rep)],
    status,
    intent: "order",
    priority: rep.urgency === "STAT" ? "stat" : "routine",
    medicationReference: drug ? compact({ ...reference("Medication", drug), display: refDisplay(rep.drug) }) : undefined,
    medicationCodeableConcept: drug ? undefined : cc(rep.concept, rep.drugNonCoded),
    subject: reference("Patient", patient),
    encounter: refUuid(rep.encounter) ? reference("Encounter", refUuid(rep.encounter)!) : undefined,
    authoredOn: created ? openmrsToFhirDateTime(created) : undefined,
    requester: refUuid(rep.orderer) ? reference("Practitioner", refUuid(rep.orderer)!) : undefined,
    note: str(rep.commentToFulfiller) ? [{ text: str(rep.commentToFulfiller) }] : undefined,
    dosageInstruction: [
      compact({
        text: str(rep.dosingInstructions),
        asNeededBoolean: rep.asNeeded === true,
        route: cc(rep.route),
        timing,
        additionalInstruction: str(rep.instructions) ? [{ text: str(rep.instructions) }] : undefined,
        doseAndRate:
          dose === undefined ? undefined : [{ doseQuantity: compact({ value: dose, unit: refDisplay(rep.doseUnits), code: refUuid(rep.doseUnits) }) }],
      }),
    ],
    dispenseRequest: compact({
      validityPeriod: str(rep.dateActivated) ? { start: fhirDateTime(rep.dateActivated) } : undefined,
      quantity: quantity === undefined ? undefined : compact({ value: quantity, unit: refDisplay(rep.quantityUnits), code: refUuid(rep.quantityUnits) }),
      numberOfRepeatsAllowed: num(rep.numRefills),
    }),
    priorPrescription: prior("MedicationRequest", rep),
  });
}

function testOrderToFhir(rep: Json, id: string, patient: string): FhirResource {
  const concept = cc(rep.concept);
  if (!concept) throw unconvertible(`test order ${id} has no concept`);
  const end = str(rep.dateStopped) ?? str(rep.autoExpireDate);
  const status = isActive(rep) ? "active" : str(rep.dateStopped) ? "revoked" : end ? "completed" : "unknown";
  const replaces = rep.action === "REVISE" || rep.action === "DISCONTINUE" ? prior("ServiceRequest", rep) : undefined;
  return compact<FhirResource>({
    resourceType: "ServiceRequest",
    id,
    meta: metaOf(rep.auditInfo),
    extension: [details(rep)],
    status,
    intent: "order",
    priority: rep.urgency === "STAT" ? "stat" : "routine",
    code: concept,
    subject: reference("Patient", patient),
    encounter: refUuid(rep.encounter) ? reference("Encounter", refUuid(rep.encounter)!) : undefined,
    requester: refUuid(rep.orderer) ? reference("Practitioner", refUuid(rep.orderer)!) : undefined,
    occurrencePeriod: compact({ start: fhirDateTime(rep.dateActivated), end: fhirDateTime(end) }),
    replaces: replaces ? [replaces] : undefined,
    note: str(rep.commentToFulfiller) ? [{ text: str(rep.commentToFulfiller) }] : undefined,
  });
}

function orderToFhir(rep: Json): FhirResource {
  const id = requireUuid(rep, "order");
  const patient = requireRef(rep.patient, `order ${id}`, "patient");
  if (rep.type === "drugorder") return drugOrderToFhir(rep, id, patient);
  if (rep.type === "testorder") return testOrderToFhir(rep, id, patient);
  throw unconvertible(`order ${id} is a ${String(rep.type)}: only drug and test orders are converted`);
}

/** The details extension as REST property -> value. */
function detailsOf(r: FhirInput): Record<string, string> {
  const ext = objects((r as Json).extension).find((e) => e.url === ORDER_DETAILS_URL);
  const out: Record<string, string> = {};
  for (const e of objects(ext?.extension)) if (typeof e.url === "string" && typeof e.valueString === "string") out[e.url] = e.valueString;
  return out;
}

function code(v: unknown): string | undefined {
  const codings = objects(asObject(v)?.coding);
  return str((codings.find((c) => c.system === undefined && str(c.code)) ?? codings[0])?.code);
}

function orderToRest(r: FhirInput): Json {
  const o = r as Json;
  const type = o.resourceType === "MedicationRequest" ? "drugorder" : "testorder";
  const uuid = requireFhirId(r, String(o.resourceType));
  const d = detailsOf(r);
  if (!d.careSetting) {
    throw unconvertible(`${String(o.resourceType)} ${uuid} has no care setting: fhir2 does not serve it, and the order was not completed from REST v1`);
  }
  const patient = referenceId(o.subject, "Patient");
  if (!patient) throw unconvertible(`order ${uuid} has no Patient subject`);
  const common = {
    uuid,
    type,
    orderNumber: d.orderNumber,
    action: d.action,
    patient,
    encounter: referenceId(o.encounter, "Encounter"),
    orderer: referenceId(o.requester, "Practitioner"),
    careSetting: d.careSetting,
    dateActivated: d.dateActivated ?? restDateTime(asObject(o.occurrencePeriod)?.start),
    autoExpireDate: d.autoExpireDate,
    urgency: o.priority === "stat" ? "STAT" : "ROUTINE",
    commentToFulfiller: str(objects(o.note)[0]?.text),
  };
  if (type === "testorder") {
    return compact({
      ...common,
      concept: code(o.code),
      previousOrder: referenceId(objects(o.replaces)[0], "ServiceRequest"),
      instructions: d.instructions,
      clinicalHistory: d.clinicalHistory,
    });
  }
  const dosage = objects(o.dosageInstruction)[0] ?? {};
  const timing = asObject(dosage.timing);
  const dose = asObject(objects(dosage.doseAndRate)[0]?.doseQuantity);
  const dispense = asObject(o.dispenseRequest);
  const quantity = asObject(dispense?.quantity);
  return compact({
    ...common,
    drug: referenceId(o.medicationReference, "Medication"),
    concept: o.medicationReference ? undefined : code(o.medicationCodeableConcept),
    previousOrder: referenceId(o.priorPrescription, "MedicationRequest"),
    dosingType: d.dosingType,
    dose: num(dose?.value),
    doseUnits: d.doseUnits,
    route: code(dosage.route),
    frequency: d.frequency,
    asNeeded: dosage.asNeededBoolean === true ? true : undefined,
    quantity: num(quantity?.value),
    quantityUnits: d.quantityUnits,
    numRefills: num(dispense?.numberOfRepeatsAllowed),
    duration: num(asObject(timing?.repeat)?.duration),
    durationUnits: d.durationUnits,
    dosingInstructions: str(dosage.text),
    instructions: str(objects(dosage.additionalInstruction)[0]?.text),
  });
}

export const order: TypeConverter = { kind: "order", toFhir: orderToFhir, toRest: orderToRest };
