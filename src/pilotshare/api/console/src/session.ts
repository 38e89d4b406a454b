// The signed-in key, kept in sessionStorage (gone when the tab closes, never in a URL), and who
// it is (GET /api/v1/me), which decides the pages the console offers.
import { computed, signal } from "@preact/signals";

export interface Me {
  key: { id: string; created_at?: string; expires_at?: string | null };
  org: { id: string; name: string; kind: string };
  role: "viewer" | "operator" | "planner" | "admin";
  network_admin: boolean;
  site_timezone?: string;
}

export interface Session {
  key: string;
  me: Me;
}

const STORE = "pilotshare-key";

export const session = signal<Session | null>(null);
export const storedKey = (): string | null => sessionStorage.getItem(STORE);

export function signIn(key: string, me: Me): void {
  sessionStorage.setItem(STORE, key);
  session.value = { key, me };
}

export function signOut(): void {
  sessionStorage.removeItem(STORE);
  session.value = null;
}

const RANK: Record<string, number> = { viewer: 0, operator: 1, planner: 2, admin: 3 };

/** Whether the signed-in key has at least `role` (the API's roles are ordered). */
export function atLeast(role: Me["role"]): boolean {
  const me = session.value?.me;
  return !!me && RANK[me.role] >= RANK[role];
}

export const isAdmin = computed(() => atLeast("admin"));
export const isNetworkAdmin = computed(() => !!session.value?.me.network_admin);
