// The front page: what this key may do, or how to start without one.
import type { JSX } from "preact";
import { t } from "../i18n";
import type { RouteDef } from "../pages";
import { ROUTES, GROUPS } from "../pages";
import { atLeast, session } from "../session";
import { Raw, Title, Trans } from "../components/ui";

function Home(): JSX.Element {
  const me = session.value?.me;
  if (!me) {
    return (
      <section class="narrow">
        <Title>{t("home.welcome")}</Title>
        <p>{t("home.intro")}</p>
        <p class="actions">
          <a class="button" href="#/signin">{t("signin.title")}</a>
          <a class="button secondary" href="#/directory">{t("home.browse")}</a>
        </p>
      </section>
    );
  }
  return (
    <section>
      <Title><Trans k="home.hello" data={{ org: me.org.name || me.org.id }} /></Title>
      <p>{t("home.signed_in_as", { role: t(`common.role_${me.role}`) })} <Raw>{me.org.id}</Raw></p>
      <div class="cards">
        {GROUPS.filter((g) => g !== "explore").map((g) => {
          const pages = ROUTES.filter((r) => r.group === g && r.role && atLeast(r.role) && (!r.networkAdmin || me.network_admin));
          if (!pages.length) return null;
          return (
            <article class="card" key={g}>
              <h2>{t(`nav.${g}`)}</h2>
              <ul>{pages.map((r) => <li key={r.path}><a href={`#${r.path}`}>{t(r.title)}</a></li>)}</ul>
            </article>
          );
        })}
      </div>
    </section>
  );
}

export const routes: RouteDef[] = [{ path: "/", title: "home.title", component: Home }];
