/**
 * Orders (openmrs-core `org.openmrs.DrugOrder` and `org.openmrs.TestOrder`): two registered record types
 * (sim/types/registry.ts), `drug_order` and `test_order`, sharing the REST v1 resource `order`.
 *
 *  - Orders are immutable (OrderServiceImpl.saveOrder): a change is a NEW order with action REVISE (or
 *    DISCONTINUE) naming the `previousOrder`, which is then stopped (`dateStopped` = a second before the
 *    new order's dateActivated); a previous order that is not active cannot be stopped; a revision must
 *    keep the orderable, order type and care setting; a discontinuation expires at once (autoExpireDate =
 *    dateActivated); two active drug orders of the same drug and care setting are refused
 *    (AmbiguousOrderException "Order.cannot.have.more.than.one"). An order number is kept when given, else
 *    "ORD-n" (a second order with the same number is refused, as the database's unique key does).
 *    OrderValidator / DrugOrderValidator: patient, encounter of that patient, orderer, care setting,
 *    concept; SIMPLE dosing needs dose, doseUnits, route and frequency; FREE_TEXT needs dosingInstructions;
 *    a quantity needs quantityUnits, a duration durationUnits.
 *  - REST v1 `order` (OrderResource1_10 / 2_2, DrugOrderSubclassHandler1_12, TestOrderSubclassHandler1_10):
 *    a create names its `type` ("drugorder" / "testorder"); an update is refused
 *    (ResourceDoesNotSupportOperationException, 400); DELETE voids; purge purges.
 *  - fhir2 `MedicationRequest` / `ServiceRequest` (MedicationRequestTranslatorImpl, DosageTranslatorImpl,
 *    MedicationRequestStatusTranslatorImpl, ServiceRequestTranslatorImpl): read only here (the providers of
 *    fhir2 4.x have @Read and, for MedicationRequest, @Patch of the fulfiller status, which the simulator
 *    does not offer); a voided order is 410. fhir2 leaves out the care setting, the order action, the
 *    order frequency (only its concept), the units' concepts and the order number.
 *  - Feed: categories `drug_order` ("DrugOrder") and `test_order` ("TestOrder"), linked
 *    `/ws/rest/v1/order/{uuid}?v=full` (omod-atomfeed's default links `/ws/rest/v1/drug_order/{uuid}`,
 *    which webservices.rest does not serve) and `/ws/fhir2/R4/{MedicationRequest|ServiceRequest}/{uuid}`.
 */
import { instantIso, parseInstant, toFhirDateTime } from "../dates";
import { SimError } from "../errors";
import { CARE_SETTINGS, DOSING_UNITS, DRUGS, DURATION_UNITS, META, ORDER_FREQUENCIES, ORDER_TYPES, PROVIDERS, ROUTES, TEST_CONCEPTS } from "../metadata";
import type { BaseRecord, Store, VoidPatch } from "../model";
import { bad, optBool, optString, refuseOthers, refUuid } from "./parse";
import type { FhirParts, GenContext, Json, RestParts, SimType } from "./registry";

export type OrderKind = "drugorder" | "testorder";
export const ORDER_ACTIONS = ["NEW", "REVISE", "DISCONTINUE", "RENEW"] as const;
export type OrderAction = (typeof ORDER_ACTIONS)[number];
export const URGENCIES = ["ROUTINE", "STAT", "ON_SCHEDULED_DATE"] as const;
export const SIMPLE_DOSING = "org.openmrs.SimpleDosingInstructions";
export const FREE_TEXT_DOSING = "org.openmrs.FreeTextDosingInstructions";

export interface Order extends BaseRecord {
  kind: OrderKind;
  orderNumber: string;
  action: OrderAction;
  patient: string;
  encounter: string;
  orderer: string;
  careSetting: string;
  concept: string;
  previousOrder: string | null;
  dateActivated: string;
  dateStopped: string | null;
  autoExpireDate: string | null;
  urgency: string;
  instructions: string | null;
  commentToFulfiller: string | null;
  // drug orders
  drug: string | null;
  dosingType: string | null;
  dose: number | null;
  doseUnits: string | null;
  route: string | null;
  frequency: string | null;
  asNeeded: boolean;
  quantity: number | null;
  quantityUnits: string | null;
  numRefills: number | null;
  duration: number | null;
  durationUnits: string | null;
  dosingInstructions: string | null;
  // test orders
  clinicalHistory: string | null;
}

export type OrderDraft = Partial<Omit<Order, keyof BaseRecord | "kind">> & { uuid?: string; patient: string };
/** Only voiding, and the store's own stop of a revised or discontinued order. */
export type OrderPatch = VoidPatch & { dateStopped?: string };

const name = (uuid: string | null): string => (uuid ? (META.concepts.get(uuid)?.display ?? uuid) : "");
const SECOND = 1000;

function table(store: Store, kind: OrderKind) {
  return store.records(kind === "drugorder" ? "drug_order" : "test_order");
}

/** Active as Order.isActive(): live, not a discontinuation, not stopped, not expired. */
export function isActive(o: Order, now = Date.now()): boolean {
  if (o.voided || o.action === "DISCONTINUE" || o.dateStopped) return false;
  const expires = o.autoExpireDate ? parseInstant(o.autoExpireDate) : undefined;
  return expires === undefined || expires > now;
}

function num(v: unknown, field: string): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === null || v === "") return null;
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw bad(`${field} must be a number`);
  return n;
}

function nextOrderNumber(store: Store): string {
  let n = store.records("drug_order").size + store.records("test_order").size + 1;
  const taken = (s: string) => [...store.records("drug_order").values(), ...store.records("test_order").values()].some((o) => (o as Order).orderNumber === s);
  while (taken(`ORD-${n}`)) n++;
  return `ORD-${n}`;
}

/** OrderServiceImpl.saveOrder for a new order of `kind`: validation, defaults, then the previous order stopped. */
function build(kind: OrderKind, store: Store, d: OrderDraft, base: BaseRecord): Order {
  const o: Order = {
    ...base,
    kind,
    orderNumber: d.orderNumber ?? "",
    action: (d.action ?? "NEW").toUpperCase() as OrderAction,
    patient: store.checkPatient(d.patient),
    encounter: d.encounter ?? "",
    orderer: d.orderer ?? "",
    careSetting: d.careSetting ?? "",
    concept: d.concept ?? "",
    previousOrder: d.previousOrder ?? null,
    dateActivated: store.dtOrNull(d.dateActivated, "dateActivated") ?? store.now(),
    dateStopped: null,
    autoExpireDate: store.dtOrNull(d.autoExpireDate, "autoExpireDate"),
    urgency: d.urgency ?? "ROUTINE",
    instructions: d.instructions ?? null,
    commentToFulfiller: d.commentToFulfiller ?? null,
    drug: d.drug ?? null,
    dosingType: kind === "drugorder" ? (d.dosingType ?? SIMPLE_DOSING) : null,
    dose: d.dose ?? null,
    doseUnits: d.doseUnits ?? null,
    route: d.route ?? null,
    frequency: d.frequency ?? null,
    asNeeded: d.asNeeded ?? false,
    quantity: d.quantity ?? null,
    quantityUnits: d.quantityUnits ?? null,
    numRefills: d.numRefills ?? null,
    duration: d.duration ?? null,
    durationUnits: d.durationUnits ?? null,
    dosingInstructions: d.dosingInstructions ?? null,
    clinicalHistory: d.clinicalHistory ?? null,
  };
  if (!(ORDER_ACTIONS as readonly string[]).includes(o.action)) throw bad(`${o.action} is not an Order.Action (${ORDER_ACTIONS.join(", ")})`);
  if (!(URGENCIES as readonly string[]).includes(o.urgency)) throw bad(`${o.urgency} is not an Order.Urgency`);
  // ensureConceptIsSet: a drug order's concept is its drug's.
  if (kind === "drugorder" && !o.concept && o.drug) o.concept = META.drugs.get(o.drug)?.concept ?? "";
  const prev = o.previousOrder ? (table(store, kind).get(o.previousOrder) as Order | undefined) : undefined;
  if (o.previousOrder && !prev) throw new SimError(400, `Order.previous.required: no ${kind} ${o.previousOrder}`, true);
  if (o.action === "DISCONTINUE" && prev) {
    // A discontinuation orders the same thing.
    o.concept ||= prev.concept;
    o.drug ??= prev.drug;
    o.careSetting ||= prev.careSetting;
  }
  // OrderValidator
  const enc = store.encounters.get(o.encounter);
  if (!enc) throw new SimError(400, `Order.error.encounterRequired: no encounter ${o.encounter}`, true);
  if (enc.patient !== o.patient) throw new SimError(400, "Order.error.encounterPatientMismatch", true);
  if (!o.orderer) throw new SimError(400, "Order.error.ordererRequired", true);
  store.checkMeta(META.providers, "Provider", o.orderer);
  if (!o.careSetting) throw new SimError(400, "Order.care.cannot.determine", true);
  store.checkMeta(META.careSettings, "CareSetting", o.careSetting);
  if (!o.concept) throw new SimError(400, "Order.error.conceptRequired", true);
  store.concept(o.concept);
  if (kind === "drugorder" && o.action !== "DISCONTINUE") {
    store.checkMeta(META.drugs, "Drug", o.drug);
    if (o.drug && META.drugs.get(o.drug)?.concept !== o.concept) throw new SimError(400, "DrugOrder.error.conceptAndDrugMismatch", true);
    for (const v of [o.doseUnits, o.route, o.quantityUnits, o.durationUnits]) if (v) store.concept(v);
    store.checkMeta(META.orderFrequencies, "OrderFrequency", o.frequency);
    if (o.dosingType === SIMPLE_DOSING && (o.dose === null || !o.doseUnits || !o.route || !o.frequency)) {
      throw new SimError(400, "DrugOrder.error.doseUnitsRouteFrequencyRequired: simple dosing needs dose, doseUnits, route and frequency", true);
    }
    if (o.dosingType === FREE_TEXT_DOSING && !o.dosingInstructions) throw new SimError(400, "DrugOrder.error.dosingInstructionsRequired", true);
    if (o.dosingType !== SIMPLE_DOSING && o.dosingType !== FREE_TEXT_DOSING) throw bad(`unknown dosingType ${String(o.dosingType)}`);
    if (o.quantity !== null && !o.quantityUnits) throw new SimError(400, "DrugOrder.error.quantityUnitsRequired", true);
    if (o.duration !== null && !o.durationUnits) throw new SimError(400, "DrugOrder.error.durationUnitsRequired", true);
  }
  if (prev) {
    if (o.action !== "NEW" && (prev.concept !== o.concept || prev.drug !== o.drug)) throw new SimError(400, "Order.orderable.doesnot.match", true);
    if (prev.careSetting !== o.careSetting) throw new SimError(400, "Order.care.setting.doesnot.match", true);
  }
  if ((o.action === "REVISE" || o.action === "DISCONTINUE") && !prev) throw new SimError(400, "Order.previous.required", true);
  if (prev && (o.action === "REVISE" || o.action === "DISCONTINUE") && !isActive(prev)) {
    throw new SimError(400, `CannotStopInactiveOrderException: Order.cannot.discontinue.inactive (${prev.orderNumber})`, true);
  }
  if (kind === "drugorder" && o.action !== "DISCONTINUE") {
    for (const other of table(store, kind).values()) {
      const x = other as Order;
      if (x.uuid !== prev?.uuid && x.patient === o.patient && x.careSetting === o.careSetting && x.drug === o.drug && x.concept === o.concept && isActive(x)) {
        throw new SimError(400, "AmbiguousOrderException: Order.cannot.have.more.than.one", true);
      }
    }
  }
  if (o.action === "DISCONTINUE") o.autoExpireDate = o.dateActivated;
  if (o.orderNumber) {
    const dup = [...store.records("drug_order").values(), ...store.records("test_order").values()].some((x) => (x as Order).orderNumber === o.orderNumber);
    if (dup) throw new SimError(500, `Duplicate entry '${o.orderNumber}' for key 'orders.order_number'`);
  } else o.orderNumber = nextOrderNumber(store);
  if (prev && (o.action === "REVISE" || o.action === "DISCONTINUE")) {
    const stop = new Date((parseInstant(o.dateActivated) ?? Date.now()) - SECOND).toISOString();
    store.updateOf(kind === "drugorder" ? "drug_order" : "test_order", prev.uuid, { dateStopped: stop });
  }
  return o;
}

// ------------------------------------------------------------------ REST v1

const COMMON = [
  "encounter",
  "action",
  "orderNumber",
  "accessionNumber",
  "dateActivated",
  "scheduledDate",
  "patient",
  "concept",
  "careSetting",
  "dateStopped",
  "autoExpireDate",
  "orderer",
  "previousOrder",
  "urgency",
  "orderType",
  "orderReason",
  "orderReasonNonCoded",
  "instructions",
  "commentToFulfiller",
  "fulfillerStatus",
  "fulfillerComment",
];
const DRUG = [
  "drug",
  "drugNonCoded",
  "dosingType",
  "dose",
  "doseUnits",
  "frequency",
  "asNeeded",
  "asNeededCondition",
  "quantity",
  "quantityUnits",
  "numRefills",
  "administrationInstructions",
  "dosingInstructions",
  "duration",
  "durationUnits",
  "route",
  "brandName",
  "dispenseAsWritten",
];
const TEST = ["specimenSource", "laterality", "clinicalHistory", "frequency", "numberOfRepeats"];

/** A care setting by uuid, or by its type name as webservices.rest's converter also takes ("INPATIENT"). */
function careSettingOf(v: unknown): string | null | undefined {
  const s = refUuid(v, "careSetting");
  if (typeof s !== "string") return s;
  return CARE_SETTINGS.find((c) => c.display.toUpperCase() === s.toUpperCase())?.uuid ?? s;
}

function restDraft(kind: OrderKind, body: Json): OrderDraft {
  if (body.type !== kind) throw bad(`type must be ${kind}`);
  const { type: _t, ...rest } = body;
  void _t;
  refuseOthers(rest, ["uuid", ...COMMON, ...(kind === "drugorder" ? DRUG : TEST)]);
  const patient = refUuid(body.patient, "patient");
  if (!patient) throw bad("patient is required");
  if (body.encounter === undefined) throw bad("Property 'encounter' is required");
  const d: OrderDraft = { patient };
  const s = (f: string) => optString(body[f], f) ?? undefined;
  const r = (f: string) => refUuid(body[f], f) ?? undefined;
  Object.assign(d, {
    uuid: s("uuid"),
    orderNumber: s("orderNumber"),
    action: s("action"),
    encounter: r("encounter"),
    orderer: r("orderer"),
    careSetting: careSettingOf(body.careSetting) ?? undefined,
    concept: r("concept"),
    previousOrder: r("previousOrder"),
    dateActivated: s("dateActivated"),
    autoExpireDate: s("autoExpireDate"),
    urgency: s("urgency"),
    instructions: s("instructions"),
    commentToFulfiller: s("commentToFulfiller"),
  });
  if (kind === "drugorder") {
    Object.assign(d, {
      drug: r("drug"),
      dosingType: s("dosingType"),
      dose: num(body.dose, "dose") ?? undefined,
      doseUnits: r("doseUnits"),
      route: r("route"),
      frequency: r("frequency"),
      asNeeded: optBool(body.asNeeded, "asNeeded"),
      quantity: num(body.quantity, "quantity") ?? undefined,
      quantityUnits: r("quantityUnits"),
      numRefills: num(body.numRefills, "numRefills") ?? undefined,
      duration: num(body.duration, "duration") ?? undefined,
      durationUnits: r("durationUnits"),
      dosingInstructions: s("dosingInstructions"),
    });
  } else Object.assign(d, { clinicalHistory: s("clinicalHistory") });
  for (const k of Object.keys(d) as (keyof OrderDraft)[]) if (d[k] === undefined) delete d[k];
  return d;
}

function display(o: Order): string {
  if (o.kind === "drugorder") {
    const drug = o.drug ? META.drugs.get(o.drug)?.display : name(o.concept);
    return o.action === "DISCONTINUE"
      ? `(DISCONTINUE) ${drug ?? ""}`
      : `${drug ?? ""}: ${o.dose ?? ""} ${name(o.doseUnits)} ${name(o.route)} ${o.frequency ? (META.orderFrequencies.get(o.frequency)?.display ?? "") : ""}`.trim();
  }
  return name(o.concept);
}

function restRep(store: Store, o: Order, parts: RestParts): Json {
  const concept = (u: string | null) => (u ? parts.ref("concept", u, name(u)) : null);
  const ot = ORDER_TYPES[o.kind];
  const prev = o.previousOrder ? (table(store, o.kind).get(o.previousOrder) as Order | undefined) : undefined;
  const care = META.careSettings.get(o.careSetting);
  const rep: Json = {
    uuid: o.uuid,
    orderNumber: o.orderNumber,
    accessionNumber: null,
    patient: parts.patientRef(o.patient),
    concept: concept(o.concept),
    action: o.action,
    careSetting: {
      uuid: o.careSetting,
      display: care?.display ?? o.careSetting,
      name: care?.display,
      careSettingType: care?.display.toUpperCase(),
      retired: false,
    },
    previousOrder: o.previousOrder ? parts.ref("order", o.previousOrder, prev ? display(prev) : o.previousOrder) : null,
    dateActivated: o.dateActivated,
    scheduledDate: null,
    dateStopped: o.dateStopped,
    autoExpireDate: o.autoExpireDate,
    encounter: parts.ref("encounter", o.encounter, "Encounter"),
    orderer: parts.ref("provider", o.orderer, META.providers.get(o.orderer)?.display ?? o.orderer),
    orderReason: null,
    orderReasonNonCoded: null,
    orderType: { uuid: ot.uuid, display: ot.display, name: ot.display, javaClassName: ot.javaClassName, retired: false },
    urgency: o.urgency,
    instructions: o.instructions,
    commentToFulfiller: o.commentToFulfiller,
    display: display(o),
    auditInfo: parts.auditInfo(o),
    fulfillerStatus: null,
    fulfillerComment: null,
    voided: o.voided,
  };
  if (o.kind === "drugorder") {
    Object.assign(rep, {
      drug: o.drug ? parts.ref("drug", o.drug, META.drugs.get(o.drug)?.display ?? o.drug) : null,
      dosingType: o.dosingType,
      dose: o.dose,
      doseUnits: concept(o.doseUnits),
      frequency: o.frequency ? parts.ref("orderfrequency", o.frequency, META.orderFrequencies.get(o.frequency)?.display ?? o.frequency) : null,
      asNeeded: o.asNeeded,
      asNeededCondition: null,
      quantity: o.quantity,
      quantityUnits: concept(o.quantityUnits),
      numRefills: o.numRefills,
      dosingInstructions: o.dosingInstructions,
      duration: o.duration,
      durationUnits: concept(o.durationUnits),
      route: concept(o.route),
      brandName: null,
      dispenseAsWritten: false,
      drugNonCoded: null,
    });
  } else Object.assign(rep, { specimenSource: null, laterality: null, clinicalHistory: o.clinicalHistory, frequency: null, numberOfRepeats: null });
  return { ...rep, links: parts.selfLink(`order/${o.uuid}`), type: o.kind, resourceVersion: "2.2" };
}

// ------------------------------------------------------------------ fhir2

function conceptCc(u: string): Json {
  return { coding: [{ code: u, display: name(u) }], text: name(u) };
}

/** MedicationRequestStatusTranslatorImpl (and, alike, ServiceRequest's status). */
function status(o: Order): string {
  if (isActive(o)) return "active";
  if (o.dateStopped) return o.kind === "drugorder" ? "cancelled" : "revoked";
  const expires = o.autoExpireDate ? parseInstant(o.autoExpireDate) : undefined;
  if (expires !== undefined && expires <= Date.now()) return o.kind === "drugorder" ? "stopped" : "completed";
  return "unknown";
}

function toFhir(store: Store, o: Order, parts: FhirParts): Json {
  const prev = o.previousOrder ? (table(store, o.kind).get(o.previousOrder) as Order | undefined) : undefined;
  const prior = o.previousOrder
    ? { ...parts.reference(o.kind === "drugorder" ? "MedicationRequest" : "ServiceRequest", o.previousOrder), identifier: { value: prev?.orderNumber } }
    : undefined;
  if (o.kind === "testorder") {
    const r: Json = { resourceType: "ServiceRequest", id: o.uuid, meta: parts.meta(o), status: status(o), intent: "order", code: conceptCc(o.concept) };
    r.subject = parts.reference("Patient", o.patient);
    r.encounter = parts.reference("Encounter", o.encounter);
    r.requester = parts.reference("Practitioner", o.orderer);
    r.occurrencePeriod = {
      start: toFhirDateTime(o.dateActivated),
      ...(o.dateStopped || o.autoExpireDate ? { end: toFhirDateTime((o.dateStopped ?? o.autoExpireDate)!) } : {}),
    };
    if (prior && (o.action === "REVISE" || o.action === "DISCONTINUE")) r.replaces = [prior];
    return r;
  }
  const r: Json = { resourceType: "MedicationRequest", id: o.uuid, meta: parts.meta(o), status: status(o), intent: "order" };
  r.priority = o.urgency === "STAT" ? "stat" : "routine";
  r.medicationReference = o.drug ? { ...parts.reference("Medication", o.drug), display: META.drugs.get(o.drug)?.display } : undefined;
  if (!o.drug) r.medicationCodeableConcept = conceptCc(o.concept);
  r.subject = parts.reference("Patient", o.patient);
  r.encounter = parts.reference("Encounter", o.encounter);
  r.authoredOn = toFhirDateTime(o.auditInfo.dateCreated);
  r.requester = parts.reference("Practitioner", o.orderer);
  if (o.commentToFulfiller) r.note = [{ text: o.commentToFulfiller }];
  const dosage: Json = { asNeededBoolean: o.asNeeded };
  if (o.dosingInstructions) dosage.text = o.dosingInstructions;
  if (o.route) dosage.route = conceptCc(o.route);
  const freq = o.frequency ? META.orderFrequencies.get(o.frequency) : undefined;
  const repeat: Json = {};
  if (o.duration !== null) repeat.duration = o.duration;
  if (o.durationUnits === DURATION_UNITS.days) repeat.durationUnit = "d";
  else if (o.durationUnits === DURATION_UNITS.weeks) repeat.durationUnit = "wk";
  if (freq || Object.keys(repeat).length)
    dosage.timing = { ...(freq ? { code: conceptCc(freq.concept) } : {}), ...(Object.keys(repeat).length ? { repeat } : {}) };
  if (o.instructions) dosage.additionalInstruction = [{ text: o.instructions }];
  if (o.dose !== null) dosage.doseAndRate = [{ doseQuantity: { value: o.dose, ...(o.doseUnits ? { unit: name(o.doseUnits), code: o.doseUnits } : {}) } }];
  r.dosageInstruction = [dosage];
  const dispense: Json = { validityPeriod: { start: toFhirDateTime(o.dateActivated) } };
  if (o.quantity !== null) dispense.quantity = { value: o.quantity, ...(o.quantityUnits ? { unit: name(o.quantityUnits), code: o.quantityUnits } : {}) };
  if (o.numRefills !== null) dispense.numberOfRepeatsAllowed = o.numRefills;
  r.dispenseRequest = dispense;
  if (prior) r.priorPrescription = prior;
  return JSON.parse(JSON.stringify(r)) as Json;
}

// ------------------------------------------------------------------ generator

const DAY = 86_400_000;

function encounterOf(ctx: GenContext, patient: string): string | undefined {
  const mine = [...ctx.store.encounters.values()].filter((e) => e.patient === patient && !e.voided);
  return mine.length ? ctx.rng.pick(mine).uuid : undefined;
}

function drugDraft(ctx: GenContext, patient: string, encounter: string, i: number): OrderDraft {
  const r = ctx.rng;
  const drug = DRUGS[i % DRUGS.length];
  const free = r.chance(0.2);
  return {
    uuid: r.uuid(),
    patient,
    encounter,
    orderer: r.pick(PROVIDERS).uuid,
    careSetting: CARE_SETTINGS[0].uuid,
    drug: drug.uuid,
    concept: drug.concept,
    dateActivated: ctx.fmt(Date.now() - r.int(1, 20) * DAY),
    ...(free
      ? { dosingType: FREE_TEXT_DOSING, dosingInstructions: "One tablet in the morning with food" }
      : {
          dosingType: SIMPLE_DOSING,
          dose: r.pick([1, 2, 500]),
          doseUnits: DOSING_UNITS.tablet,
          route: ROUTES.oral,
          frequency: r.pick(ORDER_FREQUENCIES).uuid,
          asNeeded: r.chance(0.2),
          duration: r.int(3, 14),
          durationUnits: DURATION_UNITS.days,
          quantity: r.int(10, 60),
          quantityUnits: DOSING_UNITS.tablet,
          numRefills: r.int(0, 2),
        }),
    ...(r.chance(0.3) ? { instructions: "Take after meals" } : {}),
  };
}

function testDraft(ctx: GenContext, patient: string, encounter: string, i: number): OrderDraft {
  const r = ctx.rng;
  return {
    uuid: r.uuid(),
    patient,
    encounter,
    orderer: r.pick(PROVIDERS).uuid,
    careSetting: CARE_SETTINGS[0].uuid,
    concept: TEST_CONCEPTS[i % TEST_CONCEPTS.length].uuid,
    urgency: r.pick(["ROUTINE", "STAT"]),
    dateActivated: ctx.fmt(Date.now() - r.int(1, 20) * DAY),
    ...(r.chance(0.3) ? { clinicalHistory: "Fatigue for two weeks" } : {}),
  };
}

// ------------------------------------------------------------------ the types

function orderType(kind: OrderKind): SimType<Order, OrderDraft, OrderPatch> {
  const type = kind === "drugorder" ? "drug_order" : "test_order";
  return {
    type,
    category: type,
    title: kind === "drugorder" ? "DrugOrder" : "TestOrder",
    restResource: "order",
    restType: kind,
    fhirType: kind === "drugorder" ? "MedicationRequest" : "ServiceRequest",
    fhirReadOnly: true,
    section: kind === "drugorder" ? "drugOrders" : "testOrders",
    restUpdate: "refused",

    build: (store, d, base) => build(kind, store, d, base),
    apply: (store, prev, patch) => ({ ...prev, ...(patch.dateStopped !== undefined ? { dateStopped: store.dt(patch.dateStopped, "dateStopped") } : {}) }),
    patientOf: (o) => o.patient,

    restRep,
    restDraft: (_store, body) => restDraft(kind, body),
    restPatch: () => {
      throw new SimError(400, "The Resource Does not Support the Requested Operation");
    },

    toFhir,
    fhirDraft: () => {
      throw new SimError(400, `${kind} cannot be created through fhir2`);
    },
    fhirPatch: () => {
      throw new SimError(400, `${kind} cannot be updated through fhir2`);
    },

    compare: (o) => {
      const { auditInfo: _a, uuid: _u, voidReason: _v, dateVoided: _d, dateActivated, dateStopped, autoExpireDate, ...rest } = o;
      void [_a, _u, _v, _d];
      return {
        ...(rest as unknown as Json),
        voided: o.voided,
        dateActivated: instantIso(dateActivated),
        dateStopped: instantIso(dateStopped),
        autoExpireDate: instantIso(autoExpireDate),
      };
    },

    generate(ctx, patient, n) {
      const encounter = encounterOf(ctx, patient);
      if (!encounter) return;
      for (let i = 0; i < n; i++)
        ctx.store.createOf(type, kind === "drugorder" ? drugDraft(ctx, patient, encounter, i) : testDraft(ctx, patient, encounter, i));
    },
  };
}

export const drugOrder = orderType("drugorder");
export const testOrder = orderType("testorder");
