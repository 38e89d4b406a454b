// The frame every page shares: the header with the language switch and the key, the navigation
// the signed-in role may use, and the page the hash names.
import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { get, whenUnauthorised } from "./api";
import { Connection, connect, connection, disconnect } from "./events";
import { lang, setLang, siteTimeZone, t } from "./i18n";
import { GROUPS, ROUTES, type RouteDef } from "./pages";
import { current, go, match, route } from "./router";
import { type Me, atLeast, session, signIn, signOut, storedKey } from "./session";
import { Raw } from "./components/ui";

function allowed(r: RouteDef): boolean {
  if (!r.role) return true;
  if (!session.value) return false;
  if (r.networkAdmin && !session.value.me.network_admin) return false;
  return atLeast(r.role);
}

function resolve(path: string): { def: RouteDef; params: Record<string, string> } | null {
  for (const def of ROUTES) {
    const params = match(def.path, path);
    if (params) return { def, params };
  }
  return null;
}

/** Restore the session of this tab (the key is in sessionStorage), once. */
export async function restore(): Promise<void> {
  const key = storedKey();
  if (!key) return;
  try {
    start(key, await whoIs(key));
  } catch {
    signOut();
  }
}

export function start(key: string, me: Me): void {
  signIn(key, me);
  if (me.site_timezone) siteTimeZone.value = me.site_timezone;
  connect();
}

export function stop(): void {
  disconnect();
  signOut();
  go("/");
}

whenUnauthorised(() => {
  disconnect();
  signOut();
  go("/signin?expired=1");
});

function Live({ state }: { state: Connection }): JSX.Element | null {
  if (state === "off") return null;
  return <span id="connection" class={`pill conn-${state}`} role="status">{t(`common.conn_${state}`)}</span>;
}

function Nav(): JSX.Element {
  const here = current().path;
  return (
    <nav aria-label={t("nav.label")} id="nav">
      {GROUPS.map((g) => {
        const pages = ROUTES.filter((r) => r.group === g && allowed(r)).sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
        if (!pages.length) return null;
        return (
          <div class="nav-group" key={g}>
            <h2>{t(`nav.${g}`)}</h2>
            <ul>
              {pages.map((r) => (
                <li key={r.path}>
                  <a href={`#${r.path}`} aria-current={here === r.path ? "page" : undefined}>{t(r.title)}</a>
                </li>
              ))}
            </ul>
          </div>
        );
      })}
    </nav>
  );
}

export function App(): JSX.Element {
  const { path, params: query } = current();
  const found = resolve(path);
  const me = session.value?.me;
  void route.value;
  const focused = useRef(path);
  useEffect(() => {
    document.title = found ? `${t(found.def.title)} · pilotshare` : "pilotshare";
    // after a navigation, a screen reader starts at the new page's heading (not on first load)
    if (focused.current !== path) (document.querySelector("main h1") as HTMLElement | null)?.focus();
    focused.current = path;
  }, [path, lang.value]);
  let body: JSX.Element;
  if (!found) body = <p class="alert error" role="alert">{t("common.not_found")}</p>;
  else if (!allowed(found.def)) {
    body = session.value
      ? <p class="alert error" role="alert">{t("common.not_allowed")}</p>
      : <p class="alert info" role="status">{t("common.sign_in_first")} <a href={`#/signin?next=${encodeURIComponent(path)}`}>{t("signin.title")}</a></p>;
  } else {
    const Page = found.def.component;
    body = <Page params={found.params} query={query} />;
  }
  return (
    <div class="shell">
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>{t("common.skip")}</a>
      <header class="top">
        <a class="brand" href="#/"><span translate={false}>pilotshare</span> <span class="sub">{t("common.tagline")}</span></a>
        <div class="who">
          <Live state={connection.value} />
          <label class="lang">
            <span class="visually-hidden">{t("common.language")}</span>
            <select id="lang" translate={false} value={lang.value} onChange={(e) => setLang((e.target as HTMLSelectElement).value as "zh" | "en")}>
              <option value="zh">中文</option>
              <option value="en">English</option>
            </select>
          </label>
          {me ? (
            <>
              <span class="me" id="me"><Raw>{me.org.name || me.org.id}</Raw> · {t(`common.role_${me.role}`)}</span>
              <button type="button" id="sign-out" class="link" onClick={stop}>{t("signin.sign_out")}</button>
            </>
          ) : (
            <a href="#/signin" id="sign-in-link" class="button">{t("signin.title")}</a>
          )}
        </div>
      </header>
      <Nav />
      <main id="main" tabIndex={-1}>{body}</main>
    </div>
  );
}

/** Who a key is (signing in); an ApiError when the API refuses it. */
export const whoIs = (key: string): Promise<Me> => get<Me>("/api/v1/me", { key });
