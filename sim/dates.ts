/**
 * Date helpers. OpenMRS REST writes `2019-07-08T15:34:06.000+0545` (offset without colon), FHIR writes
 * `2019-07-08T15:34:06.000+05:45`. The simulator stores every datetime in its own fixed offset, like a real
 * server renders java.util.Date values in the JVM time zone.
 */

const OFFSET_RE = /([+-])(\d\d):?(\d\d)$/;
const DATE_ONLY_RE = /^(\d{4})-(\d\d)-(\d\d)$/;
const DIGITS4_RE = /^\d{4}$/;

function pad(n: number, w = 2): string {
  return String(Math.abs(n)).padStart(w, "0");
}

/** Formats an instant as OpenMRS REST does, in the given fixed offset (minutes east of UTC). */
export function formatOpenmrs(ms: number, offsetMinutes = 0): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

/** Parses OpenMRS, FHIR or plain ISO datetimes (and bare dates, as UTC midnight) into epoch ms; undefined if invalid. */
export function parseInstant(s: string): number | undefined {
  if (typeof s !== "string" || s.length < 10) return undefined;
  let iso = s.trim();
  if (DATE_ONLY_RE.test(iso)) iso += "T00:00:00Z";
  else {
    const m = OFFSET_RE.exec(iso);
    if (m) iso = iso.slice(0, m.index) + `${m[1]}${m[2]}:${m[3]}`;
    else if (!/Z$/i.test(iso)) iso += "Z"; // no zone: treat as UTC
  }
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}

/** OpenMRS string -> FHIR dateTime (same wall clock and offset, colon added). */
export function toFhirDateTime(openmrs: string): string {
  // Fast path for what the store holds (`...+0545`); anything else through the regex.
  const n = openmrs.length;
  const sign = openmrs.charCodeAt(n - 5);
  if (n >= 5 && (sign === 43 || sign === 45) && DIGITS4_RE.test(openmrs.slice(n - 4))) return `${openmrs.slice(0, n - 2)}:${openmrs.slice(n - 2)}`;
  return openmrs.replace(OFFSET_RE, "$1$2:$3");
}

/** First 10 characters when they form a date (`YYYY-MM-DD`), else undefined. */
export function datePart(s: string | null | undefined): string | undefined {
  if (!s) return undefined;
  const d = s.slice(0, 10);
  return DATE_ONLY_RE.test(d) ? d : undefined;
}

/** A birthdate-style value: keeps the calendar date as written, midnight in the server offset. */
export function openmrsDateOnly(date: string, offsetMinutes = 0): string {
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${date}T00:00:00.000${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/** Instant as a UTC ISO string (for comparisons), or null. */
export function instantIso(s: string | null | undefined): string | null {
  if (s === null || s === undefined || s === "") return null;
  const ms = parseInstant(s);
  return ms === undefined ? `invalid:${s}` : new Date(ms).toISOString();
}

/** Atom `updated`: seconds precision, Z. */
export function atomDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
