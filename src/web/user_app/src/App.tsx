import { Layout, SignIn, createApiClient, useAuth } from "@unifyops/shared";
import { Profile } from "./Profile";

const api = createApiClient();

export function App() {
  const auth = useAuth();
  return (
    <Layout title="Profile" user={auth.email} onSignOut={() => void auth.logout()}>
      {auth.token ? <Profile api={api} /> : <SignIn />}
    </Layout>
  );
}
