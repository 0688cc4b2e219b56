import { Layout, SignIn, createApiClient, useAuth } from "@unifyops/shared";
import { Dashboard } from "./Dashboard";

const api = createApiClient();

export function App() {
  const auth = useAuth();
  return (
    <Layout title="Environments" user={auth.email} onSignOut={() => void auth.logout()}>
      {auth.token ? <Dashboard api={api} /> : <SignIn />}
    </Layout>
  );
}
