// Sign in with an API key: checked against GET /api/v1/me, then kept in this tab's session
// storage only.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { start, whoIs } from "../app";
import { ErrorBox, Field, Notice, Title } from "../components/ui";
import { t } from "../i18n";
import type { RouteDef } from "../pages";
import { go } from "../router";

function SignIn({ query }: { query: URLSearchParams }): JSX.Element {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const k = key.trim();
    if (!k) return;
    setBusy(true);
    setError(null);
    try {
      start(k, await whoIs(k));
      go(query.get("next") ?? "/");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="narrow">
      <Title>{t("signin.title")}</Title>
      {query.get("expired") ? <Notice kind="warn">{t("signin.expired")}</Notice> : null}
      <p>{t("signin.intro")}</p>
      <form id="key-form" onSubmit={submit} autocomplete="off">
        <Field id="key" label={t("signin.key")} hint={t("signin.key_hint")}>
          <input
            id="key" name="key" type="password" required spellcheck={false} placeholder="ps_…"
            aria-describedby="key-hint" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          />
        </Field>
        <button type="submit" disabled={busy}>{t("signin.submit")}</button>
      </form>
      <ErrorBox error={error} />
      <p><a href="#/directory">{t("signin.browse")}</a></p>
    </section>
  );
}

export const routes: RouteDef[] = [{ path: "/signin", title: "signin.title", component: SignIn }];
