// The console's pages: each module under pages/ exports `routes`; nothing else lists them, so a
// page is added by adding its file. The navigation is built from the same table, by role.
import type { ComponentType } from "preact";
import type { Me } from "./session";

export type Group = "explore" | "operate" | "plan" | "administer";

export interface RouteDef {
  /** "/bookings/:id" */
  path: string;
  /** i18n key of the page's title (also the navigation label) */
  title: string;
  component: ComponentType<{ params: Record<string, string>; query: URLSearchParams }>;
  /** the least role that sees the page; none: anyone, signed in or not */
  role?: Me["role"];
  /** only a platform's or the network operator's admins */
  networkAdmin?: boolean;
  /** a navigation group and the order inside it; none: not in the navigation (detail pages) */
  group?: Group;
  order?: number;
}

const modules = import.meta.glob<{ routes: RouteDef[] }>("./pages/*.tsx", { eager: true });
export const ROUTES: RouteDef[] = Object.values(modules).flatMap((m) => m.routes ?? []);
export const GROUPS: Group[] = ["explore", "operate", "plan", "administer"];
