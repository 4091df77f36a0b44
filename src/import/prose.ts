/**
 * Prose -> thresholds, approval gates, RTO targets and drill cadence. Sentence patterns over the text
 * nodes the markdown parser gives (paragraphs, list items, table rows): this is prose, not code.
 */
export type Metric = 'errorRatePct' | 'p95Ms' | 'successRatePct' | 'memoryPct' | 'circuitBreakerOpen';

export interface Threshold {
  line: number;
  text: string;
  metric: Metric;
  /** above: a breach is the value above the limit (error rate, latency); below: under it (success rate). */
  direction: 'above' | 'below';
  value: number | { timesBaseline: number };
  /** "for 5 minutes": the breach must hold this long. */
  forSeconds?: number;
  /** "within 10 minutes": a verification stage with its time. */
  withinSeconds?: number;
  /** What the document says happens: a trigger (roll back) or a verification or alert limit. */
  use: 'trigger' | 'verification' | 'alert';
}

export interface Approval {
  line: number;
  text: string;
  role: string;
  people: string[];
  /** The heading it sits under: its gate guards that section's phase. */
  section?: string;
}

export interface RtoTarget {
  line: number;
  text: string;
  stage: 'detectionMinutes' | 'decisionMinutes' | 'executionMinutes' | 'verificationMinutes' | 'total';
  minutes: number;
}

export interface DrillCadence {
  line: number;
  text: string;
  cadence: string;
  cron: string;
}

const METRICS: [RegExp, Metric][] = [
  [/\berror[- ]?rates?\b|\berrors?\b(?= *(?:>|<|above|over|exceed))/i, 'errorRatePct'],
  [/\bsuccess[- ]?rates?\b/i, 'successRatePct'],
  [/\bp9[59]\b|\blatency\b|\bresponse[- ]?times?\b|\bperformance degradation\b/i, 'p95Ms'],
  [/\bmemory(?: usage)?\b/i, 'memoryPct'],
  [/\bcircuit[- ]?breaker\b/i, 'circuitBreakerOpen'],
];

function minutesOf(amount: string, unit: string): number {
  const n = Number(amount);
  return /^h/i.test(unit) ? n * 60 : /^s/i.test(unit) ? n / 60 : n;
}

/** Splits prose into sentences and list-like fragments, keeping each one's line. */
function sentences(text: string): string[] {
  // A table row stays whole: its metric, limit and action sit in separate cells.
  return text.split(/(?<=[.;!?])\s+(?=[A-Z])/).map((s) => s.trim()).filter(Boolean);
}

export function readThresholds(text: string, line: number, heading: string): Threshold[] {
  const out: Threshold[] = [];
  for (const sentence of sentences(text)) {
    const metric = METRICS.find(([re]) => re.test(sentence))?.[1];
    if (!metric) continue;
    const baseline = /(?:>|more than|above|over)\s*(\d+(?:\.\d+)?)\s*%\s*(?:from|over|above|worse than)\s*(?:the\s+)?baseline/i.exec(sentence);
    const back = /(?:return|back)\s+to\s+(?:the\s+)?baseline/i.test(sentence);
    const cmp = /(>=?|<=?|≥|≤|above|below|over|under|exceeds?|more than|less than|at least|at most)\s*(\d+(?:\.\d+)?)\s*(%|ms|milliseconds?|minutes?|mins?\b|s\b|sec(?:ond)?s?)?/i.exec(sentence);
    if (!baseline && !back && !cmp) continue;
    let value: Threshold['value'];
    let direction: Threshold['direction'];
    if (baseline) {
      value = { timesBaseline: 1 + Number(baseline[1]) / 100 };
      direction = metric === 'successRatePct' ? 'below' : 'above';
    } else if (back && !cmp) {
      value = { timesBaseline: 1.1 };
      direction = 'above';
    } else {
      const [, op, amount, unit = ''] = cmp!;
      const below = /^(<|≤|below|under|less than|at most)/i.test(op!);
      direction = /^(>|≥|above|over|exceed|more than|at least)/i.test(op!) ? 'above' : 'below';
      let n = Number(amount);
      if (metric === 'p95Ms' && /^s|^sec/i.test(unit)) n *= 1000;
      if ((metric === 'errorRatePct' || metric === 'successRatePct' || metric === 'memoryPct') && unit !== '%' && !/%/.test(sentence)) continue;
      // "Performance degradation > 50%": half again the latency before, as "50% from baseline" says.
      if (metric === 'p95Ms' && unit === '%') {
        if (direction !== 'above') continue;
        out.push({ line, text: sentence, metric, direction, value: { timesBaseline: 1 + n / 100 }, use: 'trigger' });
        continue;
      }
      // "Circuit Breaker Open > 5 minutes": open at all, for that long.
      if (metric === 'circuitBreakerOpen' && /^min/i.test(unit)) {
        out.push({ line, text: sentence, metric, direction: 'above', value: 0, forSeconds: n * 60, use: 'trigger' });
        continue;
      }
      if (/^min/i.test(unit)) continue;
      value = n;
      // "should decrease to < 1%", "Expected: < 1% error rate": a limit the service must be under, a verification.
      if (below && metric !== 'successRatePct') direction = 'above';
      if (!below && metric === 'successRatePct') direction = 'below';
    }
    const within = /within\s+(\d+(?:\.\d+)?)\s*(minutes?|mins?|seconds?|hours?)/i.exec(sentence);
    const lasting = /for\s+(?:more than\s+|over\s+|at least\s+)?(\d+(?:\.\d+)?)\s*(minutes?|mins?|seconds?|hours?)/i.exec(sentence);
    const trigger = /trigger|when to roll ?back|roll ?back when|consider roll ?back/i.test(heading) || /roll ?back|disable|scale and alert/i.test(sentence.replace(/^.*?(?::|—|-)\s*/, ''));
    const alert = /\balert\b/i.test(sentence) || /alert/i.test(heading);
    out.push({
      line,
      text: sentence,
      metric,
      direction,
      value,
      ...(lasting ? { forSeconds: minutesOf(lasting[1]!, lasting[2]!) * 60 } : {}),
      ...(within ? { withinSeconds: minutesOf(within[1]!, within[2]!) * 60 } : {}),
      use: within ? 'verification' : trigger && !/during roll ?back/i.test(heading) ? 'trigger' : alert ? 'alert' : 'verification',
    });
  }
  return out;
}

const ROLE_WORDS = /\b(dba|database admin(?:istrator)?|db team|sre|on-?call|lead|manager|owner|admin|security|platform|release manager|incident commander|cto|vp|director|head|team|engineer|architect|reviewer)s?\b/i;

function roleName(who: string): string {
  const w = who.toLowerCase().replace(/^(the|a|an|our|your)\s+/, '').trim();
  if (/\bdba\b|database admin|db team|database team/.test(w)) return 'dba';
  if (/on-?call/.test(w)) return 'oncall';
  if (/security/.test(w)) return 'security';
  if (/release manager/.test(w)) return 'release-manager';
  if (/incident commander/.test(w)) return 'incident-commander';
  return w.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'approvers';
}

const APPROVAL_PATTERNS = [
  /(?:needs?|requires?|requiring|get|obtain|with|must have)\s+(?:an?\s+|the\s+)?(?:explicit\s+|written\s+)?(?:approval|sign[- ]?off|go[- ]ahead|ok)\s+(?:from|by|of)\s+(.+?)(?:\s+(?:before|for|to)\b|[.;,)]|$)/i,
  /(?:must|should|has to|needs? to)\s+be\s+(?:approved|signed off)\s+by\s+(.+?)(?:\s+(?:before|for)\b|[.;,)]|$)/i,
  /do\s+not\s+(?:proceed|continue|roll ?back|start|run|restore|swap)\b[^.;]*?\bwithout\s+(?:approval\s+from\s+|the\s+)?(.+?)(?:[.;,)]|$)/i,
  /(?:always\s+)?involve\s+(?:an?\s+|the\s+)?(.+?)\s+(?:for|before|in|when|on)\b/i,
  /coordinate\s+with\s+(?:the\s+)?(.+?\bteam)\b/i,
  /(?:approval|sign[- ]?off)\s+(?:from|by)\s+(.+?)(?:\s+(?:is\s+)?required|[.;,)]|$)/i,
];

export function readApprovals(text: string, line: number): Approval[] {
  const out: Approval[] = [];
  for (const sentence of sentences(text)) {
    for (const pattern of APPROVAL_PATTERNS) {
      const m = pattern.exec(sentence);
      if (!m) continue;
      const who = m[1]!.replace(/[*_`]/g, '').trim();
      // "without coordination", "without approval": an approval with no one named.
      if (/^(coordination|approval|review|sign[- ]?off|confirmation|agreement|consensus)$/i.test(who)) {
        out.push({ line, text: sentence, role: 'approvers', people: [] });
        break;
      }
      const parts = who.split(/\s*(?:,|\bor\b|\band\b|\/)\s*/).map((p) => p.trim()).filter(Boolean);
      const roles = parts.filter((p) => ROLE_WORDS.test(p));
      const people = parts.filter((p) => !ROLE_WORDS.test(p) && /^[A-Za-z][a-z'-]+(?: [A-Z][a-z'-]+)?$/.test(p)).map((p) => p.toLowerCase().replace(/\s+/g, '.'));
      if (roles.length === 0 && people.length === 0) continue;
      out.push({ line, text: sentence, role: roles.length ? roleName(roles[0]!) : 'approvers', people });
      break;
    }
  }
  return out;
}

const RTO_STAGE: [RegExp, RtoTarget['stage']][] = [
  [/^(?:\w+\s+)?to\s+decision|^decision\b(?!\s+to)/i, 'decisionMinutes'],
  [/^(?:\w+\s+)?to\s+execution|^(?:rollback\s+)?execution\b(?!\s+to)/i, 'executionMinutes'],
  [/^(?:\w+\s+)?to\s+verification|^verification\b(?!\s+to)/i, 'verificationMinutes'],
  [/^detection\b(?!\s+to)/i, 'detectionMinutes'],
  [/^total\b|\brto\b|recovery time/i, 'total'],
];

export function readRto(text: string, line: number, heading: string): RtoTarget[] {
  const out: RtoTarget[] = [];
  const m = /^\s*([A-Za-z][A-Za-z ]{2,40}?)\s*:\s*(?:<|≤|under|within|at most)?\s*(\d+(?:\.\d+)?)\s*(minutes?|mins?|hours?|seconds?)\b/i.exec(text);
  if (m && (/rto|recovery|time target|time objective|rollback time/i.test(heading) || /rto|total rollback time/i.test(m[1]!))) {
    const label = m[1]!.trim().replace(/^(?:detection|decision|execution)\s+to\s+/i, (s) => s.replace(/^\w+\s+/, ''));
    const stage = RTO_STAGE.find(([re]) => re.test(label))?.[1];
    if (stage) out.push({ line, text: text.trim(), stage, minutes: minutesOf(m[2]!, m[3]!) });
  }
  const inline = /\b(?:RTO|recovery time objective)\b[^.]*?(\d+)\s*(minutes?|hours?)/i.exec(text);
  if (!m && inline) out.push({ line, text: text.trim(), stage: 'total', minutes: minutesOf(inline[1]!, inline[2]!) });
  return out;
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

export function readDrills(text: string, line: number, heading: string): DrillCadence[] {
  if (!/drill|rehears|game ?day/i.test(text + ' ' + heading)) return [];
  const t = text.toLowerCase();
  const first = /(first|second|third|last)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\s+of\s+(?:every|each|the)\s+month/.exec(t);
  const hit = (cadence: string, cron: string): DrillCadence[] => [{ line, text: text.trim(), cadence, cron }];
  if (first) {
    const day = WEEKDAYS.indexOf(first[2]!);
    const days = { first: '1-7', second: '8-14', third: '15-21', last: '22-31' }[first[1] as 'first'];
    // Cron ORs day-of-month with day-of-week; the drill's first step checks the date (see the comment emitted).
    return hit(`${first[1]} ${first[2]} of every month`, `0 10 ${days} * ${day}`);
  }
  if (/\bquarterly\b|every (?:three months|quarter)/.test(t)) return hit('quarterly', '0 10 1 1,4,7,10 *');
  if (/\bmonthly\b|every month/.test(t)) return hit('monthly', '0 10 1 * *');
  if (/\bweekly\b|every week/.test(t)) return hit('weekly', '0 10 * * 1');
  const weekday = /every\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)/.exec(t);
  if (weekday) return hit(`every ${weekday[1]}`, `0 10 * * ${WEEKDAYS.indexOf(weekday[1]!)}`);
  if (/\bdaily\b|every day/.test(t)) return hit('daily', '0 10 * * *');
  return [];
}
