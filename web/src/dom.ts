// A tiny hyperscript helper and formatting: the whole "framework" of the dashboard.

export type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = {
  [name: string]: unknown;
  on?: { [event: string]: (e: Event) => void };
};

const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "indeterminate", "open"]);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (name === "on") {
      // `on: cond ? {...} : undefined` is how a view says "no handlers here".
      for (const [event, handler] of Object.entries((value ?? {}) as Record<string, (e: Event) => void>)) {
        el.addEventListener(event, handler);
      }
    } else if (PROPS.has(name)) {
      (el as unknown as Record<string, unknown>)[name] = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else if (child !== null && child !== undefined && child !== false) {
      el.appendChild(document.createTextNode(String(child)));
    }
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let timeZone = "Asia/Shanghai";
export function setTimeZone(tz: string): void {
  timeZone = tz;
}

function parts(iso: string | null | undefined, options: Intl.DateTimeFormatOptions): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return new Intl.DateTimeFormat("zh-CN", { timeZone, hour12: false, ...options }).format(date);
}

/** 2026-11-21 14:05 in the hub's time zone (Asia/Shanghai by default). */
export function fmtTime(iso: string | null | undefined): string {
  return parts(iso, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  }).replace(/\//g, "-");
}

/** 14:05 when it is today in the hub's time zone, else 12-06 14:05: a list of recent items stays in order. */
export function fmtRecent(iso: string | null | undefined): string {
  const full = fmtTime(iso);
  if (full === "—") return full;
  return full.slice(0, 10) === fmtDate(new Date()) ? full.slice(11) : full.slice(5);
}

export function fmtClock(date: Date): string {
  return parts(date.toISOString(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtDate(date: Date): string {
  return parts(date.toISOString(), { year: "numeric", month: "2-digit", day: "2-digit" }).replace(/\//g, "-");
}

export function pct(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

/** A datetime-local input's value (local wall time in the hub's zone) as ISO-8601 with +08:00. */
export function localInputToIso(value: string): string {
  // The hub's people work in Asia/Shanghai, which has had no daylight saving since 1991.
  return `${value}:00+08:00`;
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): (...args: A) => void {
  let timer: number | undefined;
  return (...args: A) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
}

/**
 * For a screen that loads again when its filters change: answers can arrive out of order (the screen's
 * first load may come back after a filtered one), so only the newest load's answer may be shown.
 * `const next = newestOnly();` then, in each load, `const current = next();` and `if (!current()) return;`.
 */
export function newestOnly(): () => () => boolean {
  let ticket = 0;
  return () => {
    const mine = ++ticket;
    return () => mine === ticket;
  };
}
