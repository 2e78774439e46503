"""Drives ns-core's management API with ChirpStack's official Python client.

  client_api.py ADDRESS EMAIL PASSWORD

ADDRESS is host:port of the gRPC API (plaintext); EMAIL and PASSWORD are those
of a global admin user. Uses only the generated stubs of the PyPI package
`chirpstack-api` (4.20.0) over `grpcio`, as a ChirpStack user's script would:

  - logs in (InternalService.Login) and calls with `authorization: Bearer`;
  - creates a tenant, an application, a device profile (EU868, LoRaWAN 1.0.3,
    RP002-1.0.3, OTAA), a device with root keys, a gateway, a tenant API key
    and an admin API key, and reads each back;
  - enqueues a downlink and reads the queue back;
  - pages through 26 devices (limit 10) and searches them;
  - updates the device and the tenant and reads them back;
  - lists the regions and gets the version;
  - creates a user, changes its password (and logs in with the new one),
    makes it a tenant member, changes and removes its membership;
  - updates and lists the application, the device profile and the gateway;
    creates, changes and deletes an HTTP integration; lists the ADR
    algorithms;
  - updates and deletes device keys, flushes DevNonces, activates the
    device with a random DevAddr (ABP), reads the activation and the next
    FCntDown, flushes the queue and deactivates the device;
  - searches globally, reads the dashboard summaries, and opens the three
    live streams (device events, device frames, gateway frames) with a short
    deadline, checking that the server accepts them;
  - checks what a tenant key may see (its tenant) and may not (another
    tenant, the users), and that calls without a token are refused;
  - deletes what it created, and checks that a deleted device is NOT_FOUND.

Every call goes through a registry of the methods called: at the end, the
set of methods called must be EXPECTED_METHODS, the summary line says how
many distinct methods were called.

Every check is an assertion with a message; a failed check is reported and
the script goes on where it can (an unexpected error of a call that later
steps depend on stops it). Exits 0 when every check passed, 1 otherwise, and
3 when a Python package is missing. The last line is a one-line summary.
"""

import os
import sys
import traceback

try:
    import grpc
    from google.protobuf import empty_pb2, text_format
    from chirpstack_api import api
    from chirpstack_api.common import common_pb2
except ImportError as e:
    print(
        f"client_api.py: {e} (pip install grpcio==1.85.3 chirpstack-api==4.20.0)",
        file=sys.stderr,
    )
    sys.exit(3)

TIMEOUT = 30  # seconds, per call
STREAM_SECONDS = 2  # the deadline of a live stream's call

# Every method this script must call, by service: main() checks that the set
# of methods called is exactly this.
EXPECTED_METHODS = {
    "TenantService": (
        "Create", "Get", "Update", "Delete", "List",
        "AddUser", "GetUser", "UpdateUser", "DeleteUser", "ListUsers",
    ),
    "UserService": ("Create", "Get", "Update", "Delete", "List", "UpdatePassword"),
    "ApplicationService": (
        "Create", "Get", "Update", "Delete", "List", "ListIntegrations",
        "CreateHttpIntegration", "GetHttpIntegration", "UpdateHttpIntegration",
        "DeleteHttpIntegration",
    ),
    "DeviceProfileService": ("Create", "Get", "Update", "Delete", "List", "ListAdrAlgorithms"),
    "DeviceService": (
        "Create", "Get", "Update", "Delete", "List",
        "CreateKeys", "GetKeys", "UpdateKeys", "DeleteKeys", "FlushDevNonces",
        "Activate", "Deactivate", "GetActivation", "GetRandomDevAddr",
        "Enqueue", "FlushQueue", "GetQueue", "GetNextFCntDown",
    ),
    "GatewayService": ("Create", "Get", "Update", "Delete", "List"),
    "InternalService": (
        "Login", "Profile", "CreateApiKey", "DeleteApiKey", "ListApiKeys",
        "GlobalSearch", "GetDevicesSummary", "GetGatewaysSummary", "GetVersion",
        "ListRegions", "GetRegion",
        "StreamDeviceEvents", "StreamDeviceFrames", "StreamGatewayFrames",
    ),
}
EXPECTED = {f"{svc}.{m}" for svc, methods in EXPECTED_METHODS.items() for m in methods}


class Stop(Exception):
    """A call later steps depend on failed: the run cannot go on."""


def short(msg):
    return text_format.MessageToString(msg, as_one_line=True)


class Recorded:
    """A stub whose methods, when called, add `Service.Method` to `called`."""

    def __init__(self, stub, service, called):
        self._stub = stub
        self._service = service
        self._called = called

    def __getattr__(self, name):
        method = getattr(self._stub, name)
        full_name = f"{self._service}.{name}"
        called = self._called

        def invoke(*args, **kwargs):
            called.add(full_name)
            return method(*args, **kwargs)

        invoke.full_name = full_name
        return invoke


class Client:
    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.called = set()  # the registry: "Service.Method" of every call made

        def stub(cls, service):
            return Recorded(cls(self.channel), service, self.called)

        self.tenants = stub(api.TenantServiceStub, "TenantService")
        self.applications = stub(api.ApplicationServiceStub, "ApplicationService")
        self.profiles = stub(api.DeviceProfileServiceStub, "DeviceProfileService")
        self.devices = stub(api.DeviceServiceStub, "DeviceService")
        self.gateways = stub(api.GatewayServiceStub, "GatewayService")
        self.users = stub(api.UserServiceStub, "UserService")
        self.internal = stub(api.InternalServiceStub, "InternalService")
        self.calls = 0
        self.checks = 0
        self.failures = []

    # -- checks ------------------------------------------------------------

    def check(self, cond, message):
        """An assertion: records and prints `message` unless `cond`."""
        self.checks += 1
        if not cond:
            self.failures.append(message)
            print(f"FAIL: {message}", file=sys.stderr)
        return bool(cond)

    def check_eq(self, got, want, what):
        if hasattr(got, "DESCRIPTOR"):
            detail = f"got {{{short(got)}}}, want {{{short(want)}}}"
        else:
            detail = f"got {got!r}, want {want!r}"
        return self.check(got == want, f"{what}: {detail}")

    # -- calls -------------------------------------------------------------

    def _invoke(self, method, request, token):
        self.calls += 1
        metadata = [("authorization", f"Bearer {token}")] if token else None
        return method(request, metadata=metadata, timeout=TIMEOUT)

    def call(self, what, method, request, token):
        """A call that must succeed, and that later steps depend on."""
        try:
            return self._invoke(method, request, token)
        except grpc.RpcError as e:
            self.check(False, f"{what}: failed with {e.code().name}: {e.details()}")
            raise Stop(what) from None

    def soft(self, what, method, request, token):
        """A call that must succeed; its failure is recorded, not fatal."""
        try:
            return self._invoke(method, request, token)
        except grpc.RpcError as e:
            self.check(False, f"{what}: failed with {e.code().name}: {e.details()}")
            return None

    def refused(self, what, code, method, request, token):
        """A call that must fail with `code` (or one of the tuple `code`)."""
        codes = code if isinstance(code, tuple) else (code,)
        names = " or ".join(c.name for c in codes)
        try:
            response = self._invoke(method, request, token)
        except grpc.RpcError as e:
            return self.check(
                e.code() in codes,
                f"{what}: want {names}, got {e.code().name}: {e.details()}",
            )
        return self.check(
            False, f"{what}: want {names}, but it succeeded: {{{short(response)}}}"
        )

    def stream(self, what, method, request, token, refused_with=None):
        """Opens a server-streaming call with a deadline of STREAM_SECONDS.

        Without `refused_with`, the server must accept it: the response
        headers come (or the deadline passes) without an error status; the
        call is then cancelled, and must end CANCELLED (or DEADLINE_EXCEEDED).
        With `refused_with`, the call must end with that status instead.
        """
        self.calls += 1
        metadata = [("authorization", f"Bearer {token}")] if token else None
        call = method(request, metadata=metadata, timeout=STREAM_SECONDS)
        try:
            # Returns with the response headers, or once a refused call ended.
            call.initial_metadata()
        finally:
            call.cancel()
        code = call.code()
        if refused_with is not None:
            return self.check(
                code == refused_with,
                f"{what}: want {refused_with.name}, got {code.name}: {call.details()}",
            )
        accepted = (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED)
        return self.check(
            code in accepted,
            f"{what}: the stream was not accepted: it ended {code.name}: {call.details()}",
        )


def run(c, email, password):
    suffix = os.urandom(4).hex()

    # -- login -------------------------------------------------------------
    c.refused(
        "Login with a wrong password",
        grpc.StatusCode.UNAUTHENTICATED,
        c.internal.Login,
        api.LoginRequest(email=email, password=password + "-wrong"),
        None,
    )
    login = c.call(
        "Login", c.internal.Login, api.LoginRequest(email=email, password=password), None
    )
    c.check(login.jwt.count(".") == 2, f"Login: jwt is not a JWT: {login.jwt!r}")
    admin = login.jwt
    profile = c.soft("Profile", c.internal.Profile, empty_pb2.Empty(), admin)
    if profile is not None:
        c.check_eq(profile.user.email, email, "Profile: user.email")
        c.check(profile.user.is_admin, "Profile: user.is_admin is false for the admin")

    # -- tenant --------------------------------------------------------------
    tenant = api.Tenant(
        name=f"py-tenant-{suffix}",
        description="made by client_api.py",
        can_have_gateways=True,
        max_gateway_count=5,
        max_device_count=100,
        private_gateways_up=True,
        private_gateways_down=False,
        tags={"origin": "python", "suite": "client_api"},
    )
    created = c.call(
        "TenantService.Create", c.tenants.Create, api.CreateTenantRequest(tenant=tenant), admin
    )
    tenant.id = created.id
    c.check(len(tenant.id) == 36, f"TenantService.Create: id {tenant.id!r} is not a UUID")
    got = c.call("TenantService.Get", c.tenants.Get, api.GetTenantRequest(id=tenant.id), admin)
    c.check_eq(got.tenant, tenant, "TenantService.Get: tenant")
    c.check(
        got.HasField("created_at") and got.HasField("updated_at"),
        "TenantService.Get: created_at/updated_at are not set",
    )
    found = c.soft(
        "TenantService.List (search)",
        c.tenants.List,
        api.ListTenantsRequest(limit=10, search=f"py-tenant-{suffix}"),
        admin,
    )
    if found is not None:
        c.check_eq(
            [(t.id, t.name, t.max_device_count) for t in found.result],
            [(tenant.id, tenant.name, tenant.max_device_count)],
            "TenantService.List (search): result",
        )
        c.check_eq(found.total_count, 1, "TenantService.List (search): total_count")

    # -- users ---------------------------------------------------------------
    users = c.soft("UserService.List", c.users.List, api.ListUsersRequest(limit=1000), admin)
    if users is not None:
        c.check(
            email in [u.email for u in users.result],
            f"UserService.List: the admin {email} is not listed",
        )
        c.check(
            users.total_count >= len(users.result) >= 1,
            f"UserService.List: total_count {users.total_count}, {len(users.result)} items",
        )
    user = api.User(
        email=f"py-user-{suffix}@example.com",
        is_admin=False,
        is_active=True,
        note="made by client_api.py",
    )
    first_password = "first password 1"
    user.id = c.call(
        "UserService.Create",
        c.users.Create,
        api.CreateUserRequest(user=user, password=first_password),
        admin,
    ).id
    c.check(len(user.id) == 36, f"UserService.Create: id {user.id!r} is not a UUID")
    got = c.call("UserService.Get", c.users.Get, api.GetUserRequest(id=user.id), admin)
    c.check_eq(got.user, user, "UserService.Get: user")
    c.check(
        got.HasField("created_at") and got.HasField("updated_at"),
        "UserService.Get: created_at/updated_at are not set",
    )
    user.email = f"py-user-{suffix}-renamed@example.com"
    user.note = "updated"
    if c.soft("UserService.Update", c.users.Update, api.UpdateUserRequest(user=user), admin):
        got = c.call(
            "UserService.Get (updated)", c.users.Get, api.GetUserRequest(id=user.id), admin
        )
        c.check_eq(got.user, user, "UserService.Get after Update: user")
    users = c.soft(
        "UserService.List (with the new user)",
        c.users.List,
        api.ListUsersRequest(limit=1000),
        admin,
    )
    if users is not None:
        c.check_eq(
            [(u.email, u.is_admin, u.is_active) for u in users.result if u.id == user.id],
            [(user.email, False, True)],
            "UserService.List: the new user",
        )
    login = c.soft(
        "Login (new user, first password)",
        c.internal.Login,
        api.LoginRequest(email=user.email, password=first_password),
        None,
    )
    c.check(
        login is not None and login.jwt.count(".") == 2,
        "Login (new user, first password): no JWT",
    )
    new_password = "second password 2"
    c.soft(
        "UserService.UpdatePassword",
        c.users.UpdatePassword,
        api.UpdateUserPasswordRequest(user_id=user.id, password=new_password),
        admin,
    )
    c.refused(
        "Login (new user, old password after UpdatePassword)",
        grpc.StatusCode.UNAUTHENTICATED,
        c.internal.Login,
        api.LoginRequest(email=user.email, password=first_password),
        None,
    )
    login = c.soft(
        "Login (new user, new password)",
        c.internal.Login,
        api.LoginRequest(email=user.email, password=new_password),
        None,
    )
    user_jwt = None
    if c.check(
        login is not None and login.jwt.count(".") == 2,
        "Login (new user, new password): no JWT",
    ):
        user_jwt = login.jwt
        me = c.soft("Profile (new user)", c.internal.Profile, empty_pb2.Empty(), user_jwt)
        if me is not None:
            c.check_eq(me.user.id, user.id, "Profile (new user): user.id")
            c.check_eq(me.user.email, user.email, "Profile (new user): user.email")
            c.check(not me.user.is_admin, "Profile (new user): user.is_admin is true")
            c.check_eq(len(me.tenants), 0, "Profile (new user, no tenant yet): tenants")

    # -- tenant users ----------------------------------------------------------
    member = api.TenantUser(
        tenant_id=tenant.id, user_id=user.id, is_device_admin=True, email=user.email
    )

    def check_member(what, want):
        got = c.soft(
            f"TenantService.GetUser ({what})",
            c.tenants.GetUser,
            api.GetTenantUserRequest(tenant_id=tenant.id, user_id=user.id),
            admin,
        )
        if got is None:
            return
        for field in (
            "tenant_id", "user_id", "is_admin", "is_device_admin", "is_gateway_admin", "email"
        ):
            c.check_eq(
                getattr(got.tenant_user, field),
                getattr(want, field),
                f"TenantService.GetUser ({what}): {field}",
            )
        c.check(
            got.HasField("created_at") and got.HasField("updated_at"),
            f"TenantService.GetUser ({what}): created_at/updated_at are not set",
        )

    def check_members(what, want):
        got = c.soft(
            f"TenantService.ListUsers ({what})",
            c.tenants.ListUsers,
            api.ListTenantUsersRequest(tenant_id=tenant.id, limit=100),
            admin,
        )
        if got is None:
            return
        c.check_eq(
            [
                (m.tenant_id, m.user_id, m.email, m.is_admin, m.is_device_admin,
                 m.is_gateway_admin)
                for m in got.result
            ],
            [
                (m.tenant_id, m.user_id, m.email, m.is_admin, m.is_device_admin,
                 m.is_gateway_admin)
                for m in want
            ],
            f"TenantService.ListUsers ({what}): result",
        )
        c.check_eq(got.total_count, len(want), f"TenantService.ListUsers ({what}): total_count")

    check_members("before AddUser", [])
    if c.soft(
        "TenantService.AddUser",
        c.tenants.AddUser,
        api.AddTenantUserRequest(tenant_user=member),
        admin,
    ):
        check_member("added", member)
        check_members("after AddUser", [member])
        if user_jwt:
            mine = c.soft(
                "TenantService.List (the new user, a member)",
                c.tenants.List,
                api.ListTenantsRequest(limit=10),
                user_jwt,
            )
            if mine is not None:
                c.check_eq(
                    [t.id for t in mine.result],
                    [tenant.id],
                    "TenantService.List (the new user): the tenants it is a member of",
                )
        member.is_admin = True
        member.is_device_admin = False
        member.is_gateway_admin = True
        if c.soft(
            "TenantService.UpdateUser",
            c.tenants.UpdateUser,
            api.UpdateTenantUserRequest(tenant_user=member),
            admin,
        ):
            check_member("updated", member)
            check_members("after UpdateUser", [member])
        if c.soft(
            "TenantService.DeleteUser",
            c.tenants.DeleteUser,
            api.DeleteTenantUserRequest(tenant_id=tenant.id, user_id=user.id),
            admin,
        ):
            c.refused(
                "TenantService.GetUser of the removed member",
                grpc.StatusCode.NOT_FOUND,
                c.tenants.GetUser,
                api.GetTenantUserRequest(tenant_id=tenant.id, user_id=user.id),
                admin,
            )
            check_members("after DeleteUser", [])

    # -- application -------------------------------------------------------
    app = api.Application(
        name="py-app",
        description="an application",
        tenant_id=tenant.id,
        tags={"k": "v"},
    )
    app.id = c.call(
        "ApplicationService.Create",
        c.applications.Create,
        api.CreateApplicationRequest(application=app),
        admin,
    ).id
    got = c.call(
        "ApplicationService.Get",
        c.applications.Get,
        api.GetApplicationRequest(id=app.id),
        admin,
    )
    c.check_eq(got.application, app, "ApplicationService.Get: application")
    app.name = "py-app renamed"
    app.description = "an updated application"
    app.tags.clear()
    app.tags.update({"k": "v2", "new": "tag"})
    if c.soft(
        "ApplicationService.Update",
        c.applications.Update,
        api.UpdateApplicationRequest(application=app),
        admin,
    ):
        got = c.call(
            "ApplicationService.Get (updated)",
            c.applications.Get,
            api.GetApplicationRequest(id=app.id),
            admin,
        )
        c.check_eq(got.application, app, "ApplicationService.Get after Update: application")
    apps = c.soft(
        "ApplicationService.List",
        c.applications.List,
        api.ListApplicationsRequest(tenant_id=tenant.id, limit=100),
        admin,
    )
    if apps is not None:
        c.check_eq(
            [(a.id, a.name, a.description) for a in apps.result],
            [(app.id, app.name, app.description)],
            "ApplicationService.List: result",
        )
        c.check_eq(apps.total_count, 1, "ApplicationService.List: total_count")

    # -- HTTP integration ----------------------------------------------------
    HTTP = api.IntegrationKind.Value("HTTP")
    MQTT_GLOBAL = api.IntegrationKind.Value("MQTT_GLOBAL")

    def check_integrations(what, want):
        got = c.soft(
            f"ApplicationService.ListIntegrations ({what})",
            c.applications.ListIntegrations,
            api.ListIntegrationsRequest(application_id=app.id),
            admin,
        )
        if got is not None:
            c.check_eq(
                sorted(i.kind for i in got.result),
                sorted(want),
                f"ApplicationService.ListIntegrations ({what}): kinds",
            )
            c.check_eq(
                got.total_count,
                len(want),
                f"ApplicationService.ListIntegrations ({what}): total_count",
            )

    check_integrations("no HTTP integration", [MQTT_GLOBAL])
    http = api.HttpIntegration(
        application_id=app.id,
        headers={"Authorization": "Bearer secret", "X-Origin": "client_api.py"},
        encoding=api.Encoding.Value("JSON"),
        event_endpoint_url="http://127.0.0.1:9/events",
    )
    if c.soft(
        "ApplicationService.CreateHttpIntegration",
        c.applications.CreateHttpIntegration,
        api.CreateHttpIntegrationRequest(integration=http),
        admin,
    ):
        got = c.soft(
            "ApplicationService.GetHttpIntegration",
            c.applications.GetHttpIntegration,
            api.GetHttpIntegrationRequest(application_id=app.id),
            admin,
        )
        if got is not None:
            c.check_eq(got.integration, http, "ApplicationService.GetHttpIntegration")
        check_integrations("with an HTTP integration", [HTTP, MQTT_GLOBAL])
        http.encoding = api.Encoding.Value("PROTOBUF")
        http.headers.clear()
        http.headers.update({"X-Token": "other"})
        http.event_endpoint_url = "https://example.com/a,https://example.com/b"
        if c.soft(
            "ApplicationService.UpdateHttpIntegration",
            c.applications.UpdateHttpIntegration,
            api.UpdateHttpIntegrationRequest(integration=http),
            admin,
        ):
            got = c.soft(
                "ApplicationService.GetHttpIntegration (updated)",
                c.applications.GetHttpIntegration,
                api.GetHttpIntegrationRequest(application_id=app.id),
                admin,
            )
            if got is not None:
                c.check_eq(
                    got.integration, http, "ApplicationService.GetHttpIntegration after Update"
                )
        if c.soft(
            "ApplicationService.DeleteHttpIntegration",
            c.applications.DeleteHttpIntegration,
            api.DeleteHttpIntegrationRequest(application_id=app.id),
            admin,
        ):
            c.refused(
                "ApplicationService.GetHttpIntegration of the deleted integration",
                grpc.StatusCode.NOT_FOUND,
                c.applications.GetHttpIntegration,
                api.GetHttpIntegrationRequest(application_id=app.id),
                admin,
            )
            check_integrations("HTTP integration deleted", [MQTT_GLOBAL])

    # -- device profile ------------------------------------------------------
    dp = api.DeviceProfile(
        tenant_id=tenant.id,
        name="py-profile",
        description="EU868 1.0.3 OTAA",
        region=common_pb2.EU868,
        mac_version=common_pb2.LORAWAN_1_0_3,
        reg_params_revision=common_pb2.RP002_1_0_3,
        adr_algorithm_id="default",
        supports_otaa=True,
        uplink_interval=3600,
        device_status_req_interval=1,
        flush_queue_on_activate=True,
        tags={"hw": "rev-b"},
    )
    dp.id = c.call(
        "DeviceProfileService.Create",
        c.profiles.Create,
        api.CreateDeviceProfileRequest(device_profile=dp),
        admin,
    ).id
    dp_fields = (
        "id",
        "tenant_id",
        "name",
        "description",
        "region",
        "mac_version",
        "reg_params_revision",
        "adr_algorithm_id",
        "supports_otaa",
        "uplink_interval",
        "device_status_req_interval",
        "flush_queue_on_activate",
        "tags",
    )
    got = c.call(
        "DeviceProfileService.Get", c.profiles.Get, api.GetDeviceProfileRequest(id=dp.id), admin
    ).device_profile
    for field in dp_fields:
        c.check_eq(getattr(got, field), getattr(dp, field), f"DeviceProfileService.Get: {field}")
    dp.name = "py-profile renamed"
    dp.description = "EU868 1.0.3 OTAA, updated"
    dp.uplink_interval = 600
    dp.device_status_req_interval = 2
    dp.tags.clear()
    dp.tags.update({"hw": "rev-c"})
    if c.soft(
        "DeviceProfileService.Update",
        c.profiles.Update,
        api.UpdateDeviceProfileRequest(device_profile=dp),
        admin,
    ):
        got = c.call(
            "DeviceProfileService.Get (updated)",
            c.profiles.Get,
            api.GetDeviceProfileRequest(id=dp.id),
            admin,
        ).device_profile
        for field in dp_fields:
            c.check_eq(
                getattr(got, field),
                getattr(dp, field),
                f"DeviceProfileService.Get after Update: {field}",
            )
    profiles = c.soft(
        "DeviceProfileService.List",
        c.profiles.List,
        api.ListDeviceProfilesRequest(tenant_id=tenant.id, limit=100),
        admin,
    )
    if profiles is not None:
        c.check_eq(
            [
                (p.id, p.name, p.region, p.mac_version, p.reg_params_revision, p.supports_otaa)
                for p in profiles.result
            ],
            [(dp.id, dp.name, dp.region, dp.mac_version, dp.reg_params_revision, True)],
            "DeviceProfileService.List: result",
        )
        c.check_eq(profiles.total_count, 1, "DeviceProfileService.List: total_count")
    adr = c.soft(
        "DeviceProfileService.ListAdrAlgorithms",
        c.profiles.ListAdrAlgorithms,
        empty_pb2.Empty(),
        admin,
    )
    if adr is not None:
        c.check(
            "default" in [a.id for a in adr.result],
            f"ListAdrAlgorithms: 'default' is not listed: {{{short(adr)}}}",
        )
        c.check(
            all(a.name for a in adr.result),
            f"ListAdrAlgorithms: an algorithm without a name: {{{short(adr)}}}",
        )
        c.check_eq(adr.total_count, len(adr.result), "ListAdrAlgorithms: total_count")

    # -- device and keys -----------------------------------------------------
    first = api.Device(
        dev_eui=os.urandom(8).hex(),
        name="device-00",
        description="the first device",
        application_id=app.id,
        device_profile_id=dp.id,
        join_eui="0102030405060708",
        tags={"floor": "3"},
        variables={"threshold": "10"},
    )
    c.call(
        "DeviceService.Create", c.devices.Create, api.CreateDeviceRequest(device=first), admin
    )
    got = c.call(
        "DeviceService.Get", c.devices.Get, api.GetDeviceRequest(dev_eui=first.dev_eui), admin
    )
    c.check_eq(got.device, first, "DeviceService.Get: device")
    c.check_eq(got.class_enabled, common_pb2.CLASS_A, "DeviceService.Get: class_enabled")

    keys = api.DeviceKeys(
        dev_eui=first.dev_eui,
        # For LoRaWAN 1.0.x the AppKey goes in nwk_key (see the proto).
        nwk_key=os.urandom(16).hex(),
        app_key=os.urandom(16).hex(),
    )
    c.call(
        "DeviceService.CreateKeys",
        c.devices.CreateKeys,
        api.CreateDeviceKeysRequest(device_keys=keys),
        admin,
    )
    got = c.call(
        "DeviceService.GetKeys",
        c.devices.GetKeys,
        api.GetDeviceKeysRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.check_eq(got.device_keys.dev_eui, keys.dev_eui, "DeviceService.GetKeys: dev_eui")
    c.check_eq(got.device_keys.nwk_key, keys.nwk_key, "DeviceService.GetKeys: nwk_key")
    c.check_eq(got.device_keys.app_key, keys.app_key, "DeviceService.GetKeys: app_key")
    keys.nwk_key = os.urandom(16).hex()
    keys.app_key = os.urandom(16).hex()
    if c.soft(
        "DeviceService.UpdateKeys",
        c.devices.UpdateKeys,
        api.UpdateDeviceKeysRequest(device_keys=keys),
        admin,
    ):
        got = c.soft(
            "DeviceService.GetKeys (updated)",
            c.devices.GetKeys,
            api.GetDeviceKeysRequest(dev_eui=first.dev_eui),
            admin,
        )
        if got is not None:
            c.check_eq(got.device_keys.nwk_key, keys.nwk_key, "GetKeys after UpdateKeys: nwk_key")
            c.check_eq(got.device_keys.app_key, keys.app_key, "GetKeys after UpdateKeys: app_key")
    flushed = c.soft(
        "DeviceService.FlushDevNonces",
        c.devices.FlushDevNonces,
        api.FlushDevNoncesRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.check(
        isinstance(flushed, empty_pb2.Empty),
        f"DeviceService.FlushDevNonces: want an Empty, got {flushed!r}",
    )
    got = c.soft(
        "DeviceService.GetKeys (after FlushDevNonces)",
        c.devices.GetKeys,
        api.GetDeviceKeysRequest(dev_eui=first.dev_eui),
        admin,
    )
    if got is not None:
        c.check_eq(
            got.device_keys.nwk_key, keys.nwk_key, "GetKeys after FlushDevNonces: nwk_key kept"
        )
    c.refused(
        "DeviceService.FlushDevNonces of a device that does not exist",
        grpc.StatusCode.NOT_FOUND,
        c.devices.FlushDevNonces,
        api.FlushDevNoncesRequest(dev_eui="00000000000000ff"),
        admin,
    )
    if c.soft(
        "DeviceService.DeleteKeys",
        c.devices.DeleteKeys,
        api.DeleteDeviceKeysRequest(dev_eui=first.dev_eui),
        admin,
    ):
        c.refused(
            "DeviceService.GetKeys of deleted keys",
            grpc.StatusCode.NOT_FOUND,
            c.devices.GetKeys,
            api.GetDeviceKeysRequest(dev_eui=first.dev_eui),
            admin,
        )
        # Gone, not merely hidden: they can be created again.
        c.soft(
            "DeviceService.CreateKeys (after DeleteKeys)",
            c.devices.CreateKeys,
            api.CreateDeviceKeysRequest(device_keys=keys),
            admin,
        )

    # -- gateway -------------------------------------------------------------
    gw = api.Gateway(
        gateway_id=os.urandom(8).hex(),
        name=f"py-gw-{suffix}",
        description="on the roof",
        location=common_pb2.Location(latitude=52.25, longitude=4.5, altitude=12.5),
        tenant_id=tenant.id,
        tags={"site": "hq"},
        stats_interval=30,
    )
    c.call("GatewayService.Create", c.gateways.Create, api.CreateGatewayRequest(gateway=gw), admin)
    got = c.call(
        "GatewayService.Get", c.gateways.Get, api.GetGatewayRequest(gateway_id=gw.gateway_id), admin
    ).gateway
    for field in ("gateway_id", "name", "description", "tenant_id", "tags", "stats_interval"):
        c.check_eq(getattr(got, field), getattr(gw, field), f"GatewayService.Get: {field}")
    for field in ("latitude", "longitude", "altitude"):
        c.check_eq(
            getattr(got.location, field),
            getattr(gw.location, field),
            f"GatewayService.Get: location.{field}",
        )
    gw.name = f"py-gw-{suffix} renamed"
    gw.description = "moved to the mast"
    gw.location.latitude = 48.5
    gw.location.longitude = 2.25
    gw.location.altitude = 30.0
    gw.tags.clear()
    gw.tags.update({"site": "mast"})
    gw.stats_interval = 60
    if c.soft(
        "GatewayService.Update", c.gateways.Update, api.UpdateGatewayRequest(gateway=gw), admin
    ):
        got = c.call(
            "GatewayService.Get (updated)",
            c.gateways.Get,
            api.GetGatewayRequest(gateway_id=gw.gateway_id),
            admin,
        ).gateway
        for field in ("gateway_id", "name", "description", "tenant_id", "tags", "stats_interval"):
            c.check_eq(
                getattr(got, field), getattr(gw, field), f"GatewayService.Get after Update: {field}"
            )
        for field in ("latitude", "longitude", "altitude"):
            c.check_eq(
                getattr(got.location, field),
                getattr(gw.location, field),
                f"GatewayService.Get after Update: location.{field}",
            )
    for what, request in (
        ("tenant", api.ListGatewaysRequest(tenant_id=tenant.id, limit=100)),
        ("search", api.ListGatewaysRequest(search=gw.name, limit=100)),
    ):
        gws = c.soft(f"GatewayService.List ({what})", c.gateways.List, request, admin)
        if gws is not None:
            c.check_eq(
                [(g.gateway_id, g.name, g.tenant_id, g.description) for g in gws.result],
                [(gw.gateway_id, gw.name, tenant.id, gw.description)],
                f"GatewayService.List ({what}): result",
            )
            c.check_eq(gws.total_count, 1, f"GatewayService.List ({what}): total_count")

    # -- API keys ------------------------------------------------------------
    tenant_key = c.call(
        "InternalService.CreateApiKey (tenant)",
        c.internal.CreateApiKey,
        api.CreateApiKeyRequest(
            api_key=api.ApiKey(name="py tenant key", is_admin=False, tenant_id=tenant.id)
        ),
        admin,
    )
    c.check(
        tenant_key.id and tenant_key.token.count(".") == 2,
        f"CreateApiKey (tenant): want an id and a JWT, got {{{short(tenant_key)}}}",
    )
    admin_key = c.call(
        "InternalService.CreateApiKey (admin)",
        c.internal.CreateApiKey,
        api.CreateApiKeyRequest(api_key=api.ApiKey(name="py admin key", is_admin=True)),
        admin,
    )
    keys_listed = c.soft(
        "InternalService.ListApiKeys (tenant)",
        c.internal.ListApiKeys,
        api.ListApiKeysRequest(limit=100, tenant_id=tenant.id),
        admin,
    )
    if keys_listed is not None:
        c.check(
            [k.id for k in keys_listed.result] == [tenant_key.id],
            f"ListApiKeys (tenant): want only {tenant_key.id}, got {{{short(keys_listed)}}}",
        )
    keys_listed = c.soft(
        "InternalService.ListApiKeys (admin)",
        c.internal.ListApiKeys,
        api.ListApiKeysRequest(limit=1000, is_admin=True),
        admin_key.token,
    )
    if keys_listed is not None:
        c.check(
            admin_key.id in [k.id for k in keys_listed.result],
            f"ListApiKeys (admin, with the admin key): {admin_key.id} is not listed",
        )

    # -- downlink queue ------------------------------------------------------
    item = api.DeviceQueueItem(dev_eui=first.dev_eui, f_port=10, data=b"\x01\x02\x03\xff")
    enqueued = c.call(
        "DeviceService.Enqueue",
        c.devices.Enqueue,
        api.EnqueueDeviceQueueItemRequest(queue_item=item),
        admin,
    )
    c.check(len(enqueued.id) == 36, f"Enqueue: id {enqueued.id!r} is not a UUID")
    queue = c.call(
        "DeviceService.GetQueue",
        c.devices.GetQueue,
        api.GetDeviceQueueItemsRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.check_eq(queue.total_count, 1, "GetQueue: total_count")
    if c.check(len(queue.result) == 1, f"GetQueue: want 1 item, got {len(queue.result)}"):
        q = queue.result[0]
        c.check_eq(q.id, enqueued.id, "GetQueue: id")
        c.check_eq(q.dev_eui, first.dev_eui, "GetQueue: dev_eui")
        c.check_eq(q.f_port, 10, "GetQueue: f_port")
        c.check_eq(q.data, b"\x01\x02\x03\xff", "GetQueue: data")
        c.check_eq(q.confirmed, False, "GetQueue: confirmed")
        c.check_eq(q.is_pending, False, "GetQueue: is_pending")

    # -- activation (ABP) ------------------------------------------------------
    def activation_of(what):
        return c.soft(
            f"DeviceService.GetActivation ({what})",
            c.devices.GetActivation,
            api.GetDeviceActivationRequest(dev_eui=first.dev_eui),
            admin,
        )

    got = activation_of("not activated")
    if got is not None:
        c.check(
            not got.HasField("device_activation"),
            f"GetActivation (not activated): want none, got {{{short(got)}}}",
        )
    random = c.soft(
        "DeviceService.GetRandomDevAddr",
        c.devices.GetRandomDevAddr,
        api.GetRandomDevAddrRequest(dev_eui=first.dev_eui),
        admin,
    )
    dev_addr = "01020304"
    if random is not None:
        ok = len(random.dev_addr) == 8
        try:
            int(random.dev_addr, 16)
        except ValueError:
            ok = False
        if c.check(ok, f"GetRandomDevAddr: {random.dev_addr!r} is not a DevAddr"):
            dev_addr = random.dev_addr
    nwk_s_key = os.urandom(16).hex()
    activation = api.DeviceActivation(
        dev_eui=first.dev_eui,
        dev_addr=dev_addr,
        app_s_key=os.urandom(16).hex(),
        # LoRaWAN 1.0: the NwkSKey is nwk_s_enc_key, and every network key.
        nwk_s_enc_key=nwk_s_key,
        s_nwk_s_int_key=nwk_s_key,
        f_nwk_s_int_key=nwk_s_key,
        f_cnt_up=5,
        n_f_cnt_down=7,
        a_f_cnt_down=0,
    )
    if c.soft(
        "DeviceService.Activate",
        c.devices.Activate,
        api.ActivateDeviceRequest(device_activation=activation),
        admin,
    ):
        got = activation_of("activated")
        if got is not None:
            c.check_eq(got.device_activation, activation, "GetActivation: device_activation")
        queue = c.soft(
            "DeviceService.GetQueue (after Activate)",
            c.devices.GetQueue,
            api.GetDeviceQueueItemsRequest(dev_eui=first.dev_eui),
            admin,
        )
        if queue is not None:
            # The profile has flush_queue_on_activate.
            c.check_eq(queue.total_count, 0, "GetQueue after Activate (flush_queue_on_activate)")
        nxt = c.soft(
            "DeviceService.GetNextFCntDown",
            c.devices.GetNextFCntDown,
            api.GetDeviceNextFCntDownRequest(dev_eui=first.dev_eui),
            admin,
        )
        if nxt is not None:
            c.check_eq(nxt.f_cnt_down, 7, "GetNextFCntDown: f_cnt_down (n_f_cnt_down, 1.0.3)")
    for port in (20, 21):
        c.soft(
            f"DeviceService.Enqueue (FPort {port})",
            c.devices.Enqueue,
            api.EnqueueDeviceQueueItemRequest(
                queue_item=api.DeviceQueueItem(
                    dev_eui=first.dev_eui, f_port=port, confirmed=True, data=b"\x42"
                )
            ),
            admin,
        )
    queue = c.soft(
        "DeviceService.GetQueue (2 items)",
        c.devices.GetQueue,
        api.GetDeviceQueueItemsRequest(dev_eui=first.dev_eui),
        admin,
    )
    if queue is not None:
        c.check_eq(
            sorted((q.f_port, q.confirmed, q.data) for q in queue.result),
            [(20, True, b"\x42"), (21, True, b"\x42")],
            "GetQueue (2 items): items",
        )
    if c.soft(
        "DeviceService.FlushQueue",
        c.devices.FlushQueue,
        api.FlushDeviceQueueRequest(dev_eui=first.dev_eui),
        admin,
    ):
        queue = c.soft(
            "DeviceService.GetQueue (after FlushQueue)",
            c.devices.GetQueue,
            api.GetDeviceQueueItemsRequest(dev_eui=first.dev_eui),
            admin,
        )
        if queue is not None:
            c.check_eq(queue.total_count, 0, "GetQueue after FlushQueue: total_count")
            c.check_eq(len(queue.result), 0, "GetQueue after FlushQueue: items")
    if c.soft(
        "DeviceService.Deactivate",
        c.devices.Deactivate,
        api.DeactivateDeviceRequest(dev_eui=first.dev_eui),
        admin,
    ):
        got = activation_of("deactivated")
        if got is not None:
            c.check(
                not got.HasField("device_activation"),
                f"GetActivation after Deactivate: want none, got {{{short(got)}}}",
            )

    # -- 26 devices: pages and search ----------------------------------------
    names = {first.dev_eui: first.name}
    for i in range(1, 26):
        d = api.Device(
            dev_eui=os.urandom(8).hex(),
            name=f"device-{i:02}",
            application_id=app.id,
            device_profile_id=dp.id,
        )
        c.call(
            f"DeviceService.Create ({d.name})",
            c.devices.Create,
            api.CreateDeviceRequest(device=d),
            admin,
        )
        names[d.dev_eui] = d.name
    listed = []
    for offset, want in ((0, 10), (10, 10), (20, 6)):
        page = c.call(
            f"DeviceService.List (offset {offset})",
            c.devices.List,
            api.ListDevicesRequest(
                application_id=app.id,
                limit=10,
                offset=offset,
                order_by=api.ListDevicesRequest.NAME,
            ),
            admin,
        )
        c.check_eq(page.total_count, 26, f"DeviceService.List (offset {offset}): total_count")
        c.check_eq(len(page.result), want, f"DeviceService.List (offset {offset}): items")
        for d in page.result:
            c.check_eq(
                d.device_profile_name,
                dp.name,
                f"DeviceService.List: device_profile_name of {d.dev_eui}",
            )
        listed += [(d.dev_eui, d.name) for d in page.result]
    c.check_eq(
        listed,
        sorted(names.items(), key=lambda kv: kv[1]),
        "DeviceService.List: the 3 pages, ordered by name",
    )
    c.check(
        listed and listed[0][0] == first.dev_eui,
        "DeviceService.List: the first device is not first by name",
    )
    for search, want in (
        ("device-1", [f"device-{i}" for i in range(10, 20)]),
        # ChirpStack: `name ILIKE %search%` (PostgreSQL), `LIKE` (SQLite).
        ("DEVICE-2", [f"device-{i}" for i in range(20, 26)]),
        ("no-such-device", []),
    ):
        found = c.soft(
            f"DeviceService.List (search {search!r})",
            c.devices.List,
            api.ListDevicesRequest(application_id=app.id, limit=100, search=search),
            admin,
        )
        if found is not None:
            c.check_eq(
                [d.name for d in found.result], want, f"DeviceService.List (search {search!r})"
            )
            c.check_eq(
                found.total_count,
                len(want),
                f"DeviceService.List (search {search!r}): total_count",
            )

    # -- global search, summaries, live streams --------------------------------
    for search, want in (
        (gw.name, [("gateway", tenant.id, gw.gateway_id, gw.name)]),
        (first.dev_eui, [("device", tenant.id, first.dev_eui, first.name)]),
    ):
        found = c.soft(
            f"InternalService.GlobalSearch ({search!r})",
            c.internal.GlobalSearch,
            api.GlobalSearchRequest(search=search, limit=10),
            admin,
        )
        if found is not None:
            c.check_eq(
                [
                    (
                        r.kind,
                        r.tenant_id,
                        r.gateway_id or r.device_dev_eui,
                        r.gateway_name or r.device_name,
                    )
                    for r in found.result
                ],
                want,
                f"GlobalSearch ({search!r}): result",
            )
            for r in found.result:
                if r.kind == "device":
                    c.check_eq(
                        r.application_id, app.id, f"GlobalSearch ({search!r}): application_id"
                    )
    summary = c.soft(
        "InternalService.GetDevicesSummary",
        c.internal.GetDevicesSummary,
        api.GetDevicesSummaryRequest(tenant_id=tenant.id),
        admin,
    )
    if summary is not None:
        c.check_eq(
            (summary.active_count, summary.inactive_count, summary.never_seen_count),
            (0, 0, 26),
            "GetDevicesSummary: (active, inactive, never seen) of the 26 new devices",
        )
        c.check_eq(dict(summary.dr_count), {}, "GetDevicesSummary: dr_count")
    summary = c.soft(
        "InternalService.GetGatewaysSummary",
        c.internal.GetGatewaysSummary,
        api.GetGatewaysSummaryRequest(tenant_id=tenant.id),
        admin,
    )
    if summary is not None:
        c.check_eq(
            (summary.online_count, summary.offline_count, summary.never_seen_count),
            (0, 0, 1),
            "GetGatewaysSummary: (online, offline, never seen) of the new gateway",
        )
    c.stream(
        "InternalService.StreamDeviceEvents",
        c.internal.StreamDeviceEvents,
        api.StreamDeviceEventsRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.stream(
        "InternalService.StreamDeviceFrames",
        c.internal.StreamDeviceFrames,
        api.StreamDeviceFramesRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.stream(
        "InternalService.StreamGatewayFrames",
        c.internal.StreamGatewayFrames,
        api.StreamGatewayFramesRequest(gateway_id=gw.gateway_id),
        admin,
    )
    c.stream(
        "InternalService.StreamDeviceFrames (tenant key)",
        c.internal.StreamDeviceFrames,
        api.StreamDeviceFramesRequest(dev_eui=first.dev_eui),
        tenant_key.token,
    )
    c.stream(
        "InternalService.StreamDeviceEvents (no token)",
        c.internal.StreamDeviceEvents,
        api.StreamDeviceEventsRequest(dev_eui=first.dev_eui),
        None,
        refused_with=grpc.StatusCode.UNAUTHENTICATED,
    )

    # -- updates -------------------------------------------------------------
    first.name = "device-00 renamed"
    first.description = "renamed"
    first.join_eui = "0807060504030201"
    first.skip_fcnt_check = True
    first.is_disabled = True
    first.tags.clear()
    first.tags.update({"floor": "4", "room": "7"})
    first.variables.clear()
    first.variables.update({"threshold": "20"})
    if c.soft(
        "DeviceService.Update", c.devices.Update, api.UpdateDeviceRequest(device=first), admin
    ):
        got = c.call(
            "DeviceService.Get (updated)",
            c.devices.Get,
            api.GetDeviceRequest(dev_eui=first.dev_eui),
            admin,
        )
        c.check_eq(got.device, first, "DeviceService.Get after Update: device")

    tenant.name = f"py-tenant-{suffix} renamed"
    tenant.description = "updated"
    tenant.max_device_count = 200
    tenant.max_gateway_count = 7
    tenant.private_gateways_up = False
    tenant.private_gateways_down = True
    tenant.tags.clear()
    tenant.tags.update({"origin": "python-updated"})
    if c.soft(
        "TenantService.Update", c.tenants.Update, api.UpdateTenantRequest(tenant=tenant), admin
    ):
        got = c.call(
            "TenantService.Get (updated)", c.tenants.Get, api.GetTenantRequest(id=tenant.id), admin
        )
        c.check_eq(got.tenant, tenant, "TenantService.Get after Update: tenant")

    # -- server information --------------------------------------------------
    regions = c.soft("InternalService.ListRegions", c.internal.ListRegions, empty_pb2.Empty(), admin)
    if regions is not None:
        c.check(regions.regions, "ListRegions: no region is listed")
        for r in regions.regions:
            c.check(r.id, f"ListRegions: a region without id: {{{short(r)}}}")
        if regions.regions:
            region = c.soft(
                "InternalService.GetRegion",
                c.internal.GetRegion,
                api.GetRegionRequest(id=regions.regions[0].id),
                admin,
            )
            if region is not None:
                c.check_eq(region.id, regions.regions[0].id, "GetRegion: id")
                c.check_eq(region.region, regions.regions[0].region, "GetRegion: region")
    version = c.soft("InternalService.GetVersion", c.internal.GetVersion, empty_pb2.Empty(), admin)
    if version is not None:
        c.check(version.version, "GetVersion: version is empty")
    c.soft(
        "InternalService.GetVersion (admin key)",
        c.internal.GetVersion,
        empty_pb2.Empty(),
        admin_key.token,
    )

    # -- what a tenant key may and may not do --------------------------------
    other = api.Tenant(name=f"py-other-{suffix}", can_have_gateways=True)
    other.id = c.call(
        "TenantService.Create (second tenant)",
        c.tenants.Create,
        api.CreateTenantRequest(tenant=other),
        admin,
    ).id
    other_app = c.call(
        "ApplicationService.Create (second tenant)",
        c.applications.Create,
        api.CreateApplicationRequest(
            application=api.Application(name="other app", tenant_id=other.id)
        ),
        admin,
    ).id
    key = tenant_key.token
    page = c.soft(
        "DeviceService.List (tenant key)",
        c.devices.List,
        api.ListDevicesRequest(application_id=app.id, limit=100),
        key,
    )
    if page is not None:
        c.check_eq(page.total_count, 26, "DeviceService.List (tenant key): total_count")
        c.check_eq(len(page.result), 26, "DeviceService.List (tenant key): items")
    got = c.soft(
        "DeviceService.Get (tenant key)",
        c.devices.Get,
        api.GetDeviceRequest(dev_eui=first.dev_eui),
        key,
    )
    if got is not None:
        c.check_eq(got.device, first, "DeviceService.Get (tenant key): device")
    got = c.soft(
        "TenantService.Get own tenant (tenant key)",
        c.tenants.Get,
        api.GetTenantRequest(id=tenant.id),
        key,
    )
    if got is not None:
        c.check_eq(got.tenant.id, tenant.id, "TenantService.Get own tenant (tenant key): id")
    denied = grpc.StatusCode.PERMISSION_DENIED
    c.refused(
        "TenantService.Get second tenant (tenant key)",
        denied,
        c.tenants.Get,
        api.GetTenantRequest(id=other.id),
        key,
    )
    c.refused(
        "ApplicationService.Get second tenant's application (tenant key)",
        denied,
        c.applications.Get,
        api.GetApplicationRequest(id=other_app),
        key,
    )
    c.refused(
        "ApplicationService.List second tenant (tenant key)",
        denied,
        c.applications.List,
        api.ListApplicationsRequest(tenant_id=other.id, limit=10),
        key,
    )
    c.refused(
        "UserService.List (tenant key)",
        denied,
        c.users.List,
        api.ListUsersRequest(limit=10),
        key,
    )

    # -- no token ------------------------------------------------------------
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    c.refused(
        "TenantService.List (no token)",
        unauthenticated,
        c.tenants.List,
        api.ListTenantsRequest(limit=10),
        None,
    )
    c.refused(
        "DeviceService.Get (no token)",
        unauthenticated,
        c.devices.Get,
        api.GetDeviceRequest(dev_eui=first.dev_eui),
        None,
    )
    c.refused(
        "DeviceService.Get (a token that is not a JWT)",
        unauthenticated,
        c.devices.Get,
        api.GetDeviceRequest(dev_eui=first.dev_eui),
        "not-a-jwt",
    )

    # -- deletes -------------------------------------------------------------
    not_found = grpc.StatusCode.NOT_FOUND
    c.soft(
        "DeviceService.Delete",
        c.devices.Delete,
        api.DeleteDeviceRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.refused(
        "DeviceService.Get of the deleted device (admin)",
        not_found,
        c.devices.Get,
        api.GetDeviceRequest(dev_eui=first.dev_eui),
        admin,
    )
    c.soft(
        "GatewayService.Delete",
        c.gateways.Delete,
        api.DeleteGatewayRequest(gateway_id=gw.gateway_id),
        admin,
    )
    c.refused(
        "GatewayService.Get of the deleted gateway (admin)",
        not_found,
        c.gateways.Get,
        api.GetGatewayRequest(gateway_id=gw.gateway_id),
        admin,
    )
    # ChirpStack: device.device_profile_id ... on delete cascade.
    c.soft(
        "DeviceProfileService.Delete (25 devices still use it)",
        c.profiles.Delete,
        api.DeleteDeviceProfileRequest(id=dp.id),
        admin,
    )
    c.soft(
        "ApplicationService.Delete",
        c.applications.Delete,
        api.DeleteApplicationRequest(id=app.id),
        admin,
    )
    c.refused(
        "ApplicationService.Get of the deleted application (admin)",
        not_found,
        c.applications.Get,
        api.GetApplicationRequest(id=app.id),
        admin,
    )
    for t in (tenant.id, other.id):
        c.soft("TenantService.Delete", c.tenants.Delete, api.DeleteTenantRequest(id=t), admin)
        c.refused(
            "TenantService.Get of the deleted tenant (admin)",
            not_found,
            c.tenants.Get,
            api.GetTenantRequest(id=t),
            admin,
        )
    c.soft(
        "InternalService.DeleteApiKey (admin key)",
        c.internal.DeleteApiKey,
        api.DeleteApiKeyRequest(id=admin_key.id),
        admin,
    )
    keys_listed = c.soft(
        "InternalService.ListApiKeys (admin, after DeleteApiKey)",
        c.internal.ListApiKeys,
        api.ListApiKeysRequest(limit=1000, is_admin=True),
        admin,
    )
    if keys_listed is not None:
        c.check(
            admin_key.id not in [k.id for k in keys_listed.result],
            f"ListApiKeys after DeleteApiKey: {admin_key.id} is still listed",
        )
    c.refused(
        "GetVersion with the deleted admin key",
        (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED),
        c.internal.GetVersion,
        empty_pb2.Empty(),
        admin_key.token,
    )
    if c.soft("UserService.Delete", c.users.Delete, api.DeleteUserRequest(id=user.id), admin):
        c.refused(
            "UserService.Get of the deleted user",
            not_found,
            c.users.Get,
            api.GetUserRequest(id=user.id),
            admin,
        )
        c.refused(
            "Login of the deleted user",
            grpc.StatusCode.UNAUTHENTICATED,
            c.internal.Login,
            api.LoginRequest(email=user.email, password=new_password),
            None,
        )


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    address, email, password = sys.argv[1:]
    c = Client(address)
    stopped = None
    try:
        run(c, email, password)
    except Stop as e:
        stopped = str(e)
    except Exception:  # a bug of this script, or an unexpected reply
        traceback.print_exc()
        stopped = "an exception"
    finally:
        c.channel.close()
    if stopped:
        print(f"client_api.py: stopped after {stopped} failed", file=sys.stderr)
    missing = sorted(EXPECTED - c.called)
    extra = sorted(c.called - EXPECTED)
    c.check(
        not missing and not extra,
        f"the methods called are not the expected {len(EXPECTED)}: "
        f"not called {missing}, not expected {extra}",
    )
    status = "FAILED" if c.failures or stopped else "ok"
    print(
        f"client_api.py {status}: {c.calls} calls of {len(c.called)} distinct methods "
        f"(of {len(EXPECTED)} expected) to {address}, {c.checks} checks, "
        f"{len(c.failures)} failed"
    )
    sys.exit(1 if c.failures or stopped else 0)


if __name__ == "__main__":
    main()
