// Personal data is masked in every view and shown on purpose (decision 0019): whoever needs it picks why,
// and the hub keeps the read and that purpose in the audit log.

import { h } from "../dom";
import { t, zh } from "../i18n";
import { errorText } from "../problems";
import { toast } from "./toast";

/** Why an event's reporter is contacted (显示联系方式). */
export const REPORTER_PURPOSES = ["purpose_callback", "purpose_verify", "purpose_materials"] as const;
/** Why a registered person's meter readings are read (独居老人: a long flat line is the welfare alarm). */
export const READINGS_PURPOSES = ["purpose_check_alert", "purpose_visit", "purpose_follow_up"] as const;

/** A choice of purposes and a confirm button; `confirm` asks the hub with the chosen purpose. The choice has
 * the focus once the caller has placed the form (in the same task). */
export function purposeForm(purposes: readonly string[], confirm: (purpose: string) => Promise<void>): HTMLFormElement {
  const purpose = h(
    "select",
    { "aria-label": t("purpose") },
    // The purpose goes to the audit log in Chinese, whatever the screen's language: one purpose, one text.
    purposes.map((key) => h("option", { value: zh(key) }, t(key))),
  );
  const button = h("button", { type: "submit", class: "btn small" }, t("confirm_show"));
  const submit = async (ev: Event) => {
    ev.preventDefault();
    button.disabled = true; // one read, one audit row: a second click waits for the first answer
    try {
      await confirm(purpose.value);
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      button.disabled = false;
    }
  };
  queueMicrotask(() => purpose.focus());
  return h("form", { class: "reveal", on: { submit: (ev: Event) => void submit(ev) } }, purpose, " ", button);
}
