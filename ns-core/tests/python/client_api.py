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
  - checks what a tenant key may see (its tenant) and may not (another
    tenant, the users), and that calls without a token are refused;
  - deletes what it created, and checks that a deleted device is NOT_FOUND.

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


class Stop(Exception):
    """A call later steps depend on failed: the run cannot go on."""


def short(msg):
    return text_format.MessageToString(msg, as_one_line=True)


class Client:
    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.tenants = api.TenantServiceStub(self.channel)
        self.applications = api.ApplicationServiceStub(self.channel)
        self.profiles = api.DeviceProfileServiceStub(self.channel)
        self.devices = api.DeviceServiceStub(self.channel)
        self.gateways = api.GatewayServiceStub(self.channel)
        self.users = api.UserServiceStub(self.channel)
        self.internal = api.InternalServiceStub(self.channel)
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
        """A call that must fail with `code`."""
        try:
            response = self._invoke(method, request, token)
        except grpc.RpcError as e:
            return self.check(
                e.code() == code,
                f"{what}: want {code.name}, got {e.code().name}: {e.details()}",
            )
        return self.check(
            False, f"{what}: want {code.name}, but it succeeded: {{{short(response)}}}"
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
    got = c.call(
        "DeviceProfileService.Get", c.profiles.Get, api.GetDeviceProfileRequest(id=dp.id), admin
    ).device_profile
    for field in (
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
    ):
        c.check_eq(getattr(got, field), getattr(dp, field), f"DeviceProfileService.Get: {field}")

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
    status = "FAILED" if c.failures or stopped else "ok"
    print(
        f"client_api.py {status}: {c.calls} calls to {address}, {c.checks} checks, "
        f"{len(c.failures)} failed"
    )
    sys.exit(1 if c.failures or stopped else 0)


if __name__ == "__main__":
    main()
