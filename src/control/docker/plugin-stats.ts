// Counts of Docker's plugin calls, read by prom-client when /metrics is scraped
// (pontoon_docker_plugin_calls_total): how often Docker asks, and how often pontoon says no.

/** ok: answered; refused: a PluginError or ApiFailure Docker prints; failed: an unexpected error (logged) */
export const PLUGIN_OUTCOMES = ['ok', 'refused', 'failed'] as const;
export type PluginOutcome = (typeof PLUGIN_OUTCOMES)[number];

export class PluginStats {
  /** by "call outcome"; the calls are the plugin's own paths (and "unknown"), so the labels stay bounded */
  private readonly counts = new Map<string, number>();

  count(call: string, outcome: PluginOutcome): void {
    const key = `${call} ${outcome}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  entries(): { call: string; outcome: PluginOutcome; count: number }[] {
    return [...this.counts].map(([k, count]) => {
      const [call, outcome] = k.split(' ') as [string, PluginOutcome];
      return { call, outcome, count };
    });
  }
}
