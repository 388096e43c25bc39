// Who is logged in, fetched once by the shell from GET /api/v1/session and
// handed to every page through SessionContext:
//
//   const session = useSession();   // { user, role, authEnabled, canWrite }
//   if (session.isAdmin) ...        // e.g. show "New silence"
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const SessionContext = createContext({ user: '', role: 'viewer', authEnabled: true, isAdmin: false });

/** useSession returns the signed-in user: { user, role, authEnabled, isAdmin }. */
export function useSession() {
  return useContext(SessionContext);
}
