// After a successful login: who this is, the live stream, the role's home screen.

import { api, type Me } from "./api";
import { startLive } from "./live";
import { navigate } from "./router";
import { navFor, PATHS, session } from "./session";

export async function loggedIn(): Promise<void> {
  session.me = await api<Me>("/api/v1/auth/me");
  startLive();
  navigate(PATHS[navFor(session.me.role)[0]]);
}
