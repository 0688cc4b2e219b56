import { AppFrame, createApiClient } from "@unifyops/shared";
import { Profile } from "./Profile";

const api = createApiClient();

export function App() {
  return <AppFrame title="Profile">{() => <Profile api={api} />}</AppFrame>;
}
