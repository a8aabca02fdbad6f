// Short confirmations in a polite live region (screen readers announce them too).

import { h } from "../dom";

let region: HTMLElement | null = null;

export function toast(message: string, kind: "ok" | "error" = "ok"): void {
  if (!region) {
    region = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const item = h("div", { class: `toast ${kind}` }, message);
  region.append(item);
  window.setTimeout(() => item.remove(), 4_000);
}
