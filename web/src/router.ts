// History-API routing: the hub answers every page path with index.html (SPA fallback).

export type Cleanup = () => void;
export type View = (root: HTMLElement, params: string[]) => Cleanup | void | Promise<Cleanup | void>;

interface Route {
  pattern: RegExp;
  view: View;
}

const routes: Route[] = [];
let renderHook: (view: View, params: string[]) => void = () => {};

export function route(pattern: RegExp, view: View): void {
  routes.push({ pattern, view });
}

export function onRoute(hook: (view: View, params: string[]) => void): void {
  renderHook = hook;
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else if (path !== location.pathname + location.search) history.pushState(null, "", path);
  render();
}

export function render(): void {
  const path = location.pathname;
  for (const r of routes) {
    const match = r.pattern.exec(path);
    if (match) {
      renderHook(r.view, match.slice(1));
      return;
    }
  }
  navigate("/", true);
}

window.addEventListener("popstate", render);
document.addEventListener("click", (e) => {
  const link = (e.target as HTMLElement).closest("a[data-link]") as HTMLAnchorElement | null;
  if (!link || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(link.getAttribute("href") ?? "/");
});
