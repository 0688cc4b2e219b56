import { AppFrame, createApiClient } from "@unifyops/shared";
import { Dashboard } from "./Dashboard";

const api = createApiClient();

export function App() {
  return <AppFrame title="Environments">{() => <Dashboard api={api} />}</AppFrame>;
}
