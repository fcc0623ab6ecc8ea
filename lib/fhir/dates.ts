/**
 * Date conversion between OpenMRS REST v1 and FHIR R4 (see docs/fhir-mapping.md, "Dates").
 *
 * OpenMRS REST writes `2019-07-08T15:34:06.000+0545` (Java `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, offset
 * without a colon); FHIR writes `2019-07-08T15:34:06.000+05:45`. Conversion keeps the wall-clock time
 * and the offset as written: only the offset's colon changes. Nothing is shifted to another timezone.
 */
import { PermanentError } from "../outcome";

/** A date value in an error text: its length only (a birth date is clinical content). */
function shownLength(s: unknown): string {
  return typeof s === "string" ? `a text of ${s.length} characters` : `a ${typeof s}`;
}

/**
 * date, optional time (seconds and fraction optional), optional offset.
 * Groups: 1 date, 2 HH:mm, 3 :ss, 4 .fraction, 5 offset (Z | ±HH | ±HHmm | ±HH:mm).
 */
const DATE_TIME = /^(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?:[T ](\d{2}:\d{2})(:\d{2})?(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

interface DateParts {
  date: string;
  hm?: string;
  sec?: string;
  fraction?: string;
  offset?: string;
}

function parse(s: string): DateParts {
  const m = DATE_TIME.exec(typeof s === "string" ? s.trim() : "");
  if (!m) throw new PermanentError(`not a date: ${shownLength(s)}`, "unconvertible");
  const [, date, hm, sec, fraction, offset] = m;
  if (offset !== undefined && hm === undefined) {
    throw new PermanentError(`not a date: ${shownLength(s)} has an offset without a time`, "unconvertible");
  }
  return { date, hm, sec, fraction, offset };
}

/** "Z" stays "Z"; "+0545" / "+05:45" / "+05" become "+05:45" / "+05:00". */
function fhirOffset(offset: string): string {
  if (offset === "Z") return offset;
  const digits = offset.slice(1).replace(":", "");
  const mm = digits.length > 2 ? digits.slice(2) : "00";
  return `${offset[0]}${digits.slice(0, 2)}:${mm}`;
}

/** "Z" becomes "+0000"; "+05:45" / "+0545" / "+05" become "+0545" / "+0500". */
function openmrsOffset(offset: string): string {
  if (offset === "Z") return "+0000";
  const digits = offset.slice(1).replace(":", "");
  return `${offset[0]}${digits.slice(0, 2)}${digits.length > 2 ? digits.slice(2) : "00"}`;
}

/**
 * An OpenMRS (or already FHIR) date-time as a FHIR `dateTime`/`instant`:
 * "2019-07-08T15:34:06.000+0545" -> "2019-07-08T15:34:06.000+05:45". "Z" is kept.
 * A date-only value stays date-only (a valid FHIR `dateTime`). A time without an offset cannot be a
 * FHIR dateTime and is refused (OpenMRS always writes the offset).
 */
export function openmrsToFhirDateTime(s: string): string {
  const p = parse(s);
  if (p.hm === undefined) return p.date;
  if (p.offset === undefined) {
    throw new PermanentError(`date-time without a timezone: ${shownLength(s)}`, "unconvertible");
  }
  return `${p.date}T${p.hm}${p.sec ?? ":00"}${p.fraction ?? ""}${fhirOffset(p.offset)}`;
}

/** The date part as written, as a FHIR `date`: "1998-07-03T00:00:00.000+0545" -> "1998-07-03" (no timezone shift). */
export function openmrsToFhirDate(s: string): string {
  return parse(s).date;
}

/**
 * A FHIR `date`/`dateTime`/`instant` in the OpenMRS REST format `yyyy-MM-dd'T'HH:mm:ss.SSSZ`:
 * "2014-11-25T22:17:00+11:00" -> "2014-11-25T22:17:00.000+1100", "Z" -> "+0000",
 * "2004-08-12" -> "2004-08-12T00:00:00.000+0000" (partial dates "2004" / "2004-08" start on the first day).
 * The fraction is always three digits (Java's `SSS` would read ".5" as 5 ms).
 */
export function fhirToOpenmrsDateTime(s: string): string {
  const p = parse(s);
  const [y, mo = "01", d = "01"] = p.date.split("-");
  const date = `${y}-${mo}-${d}`;
  if (p.hm === undefined) return `${date}T00:00:00.000+0000`;
  const millis = (p.fraction ?? ".").slice(1).padEnd(3, "0").slice(0, 3);
  return `${date}T${p.hm}${p.sec ?? ":00"}.${millis}${openmrsOffset(p.offset ?? "Z")}`;
}

/**
 * Epoch milliseconds of an OpenMRS or FHIR date-time (Date.parse of the normalised form).
 * A date-only value, or a time without an offset, counts as UTC. Throws PermanentError when unparseable.
 */
export function instantMillis(s: string): number {
  const p = parse(s);
  const [y, mo = "01", d = "01"] = p.date.split("-");
  const date = `${y}-${mo}-${d}`;
  const millis = (p.fraction ?? ".").slice(1).padEnd(3, "0").slice(0, 3);
  const iso = p.hm === undefined ? `${date}T00:00:00.000Z` : `${date}T${p.hm}${p.sec ?? ":00"}.${millis}${fhirOffset(p.offset ?? "Z")}`;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new PermanentError(`not a date: ${shownLength(s)}`, "unconvertible");
  return ms;
}
