package com.example.inventory.cdi;

import java.time.Clock;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;

/**
 * CDI producers for types the application does not own.
 */
@ApplicationScoped
public class Resources {

    /** One clock for every bean, so tests can replace it with a fixed one. */
    @Produces
    public Clock clock() {
        return Clock.systemUTC();
    }
}
