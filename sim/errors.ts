/**
 * An error that becomes an HTTP answer: 400 invalid submission, 404 unknown, 410 gone. `validation`:
 * refused by openmrs-core's validators (a ValidationException), which REST v1 answers with globalErrors
 * and fhir2 with 422. In a module of its own so that record types (sim/types/) can throw it without
 * importing the store.
 */
export class SimError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly validation = false,
  ) {
    super(message);
    this.name = "SimError";
  }
}
