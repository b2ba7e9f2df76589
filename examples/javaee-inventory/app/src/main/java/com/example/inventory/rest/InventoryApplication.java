package com.example.inventory.rest;

import javax.ws.rs.ApplicationPath;
import javax.ws.rs.core.Application;

/**
 * Activates JAX-RS: every resource class in the deployment is served under /api.
 */
@ApplicationPath("/api")
public class InventoryApplication extends Application {
    // Nothing to configure: resources and providers are found by scanning the deployment.
}
