import { Layout, SignIn, useAuth } from "@unifyops/shared";

export function App() {
  const auth = useAuth();
  return (
    <Layout title="Account" user={auth.email} onSignOut={() => void auth.logout()}>
      {auth.token ? <p role="status">You are signed in as {auth.email}.</p> : <SignIn />}
    </Layout>
  );
}
