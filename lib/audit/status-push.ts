/**
 * A child's status report to its hub (issue 10, central status): sent by audit-push after each round to
 * `POST {server}/ws/hub/status` (lib/hub/status.ts says what it holds). A server that is not a hub (an
 * OpenMRS parent) answers 404: the reporter then stops asking for this run, so a plain parent sees one
 * request per start, not one per minute.
 */
import type { AdminStore, AdminRegistry } from "../admin/registry";
import { channelsOf } from "../admin/channels";
import type { OpenmrsServer } from "../openmrs/server";
import { classifyStatus, outcomeOfError, type Outcome } from "../outcome";
import { statusReport } from "../hub/status";
import { packageVersion } from "../version";

export type StatusPushResult = { sent: true } | { sent: false; notAHub: true } | { sent: false; failure: Outcome };

export class StatusReporter {
  private notAHub = false;

  constructor(
    private readonly registry: AdminRegistry,
    private readonly server: OpenmrsServer,
    readonly instanceId: string,
  ) {}

  /** Sends the current report of one store's channels, unless the server said it is no hub. */
  async push(store: AdminStore): Promise<StatusPushResult | undefined> {
    if (this.notAHub) return undefined;
    const { rows } = await channelsOf(store, this.registry.channelsOf(store.id));
    const url = `${this.server.baseUrl}/ws/hub/status`;
    try {
      const res = await this.server.restSend("POST", url, statusReport(rows, this.instanceId, packageVersion()));
      if (res.status === 404) {
        this.notAHub = true;
        return { sent: false, notAHub: true };
      }
      if (res.status >= 200 && res.status < 300) return { sent: true };
      return { sent: false, failure: { ...classifyStatus(res.status, res.headers["retry-after"]), message: `POST ${url}: HTTP ${res.status}` } };
    } catch (err) {
      return { sent: false, failure: outcomeOfError(err) };
    }
  }
}
